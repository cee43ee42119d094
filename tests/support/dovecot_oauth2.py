"""A real Dovecot whose only login is OAuth2 (XOAUTH2 and OAUTHBEARER), for the OAuth2 tests.

The same server as :mod:`tests.dovecot`, with the passdb swapped for Dovecot's ``oauth2``
driver: it validates each bearer token by RFC 7662 introspection (``introspection_mode = post``)
against the test's OAuth2 server, and takes the login only when the token is active and its
``username`` is the user logging in. With PLAIN and LOGIN gone, Dovecot advertises
LOGINDISABLED, as an OAuth2-only tenant's server does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from imapclient import IMAPClient

from tests.support import dovecot
from tests.support.dovecot import Dovecot


class OAuth2Dovecot(Dovecot):
    def __init__(
        self,
        binary: str,
        introspection_url: str,
        mint: Callable[[str], str],
        *,
        mechanisms: str = "xoauth2 oauthbearer",
    ) -> None:
        self.introspection_url = introspection_url
        self.mint = mint  # a live token for a user, for the test's own client
        self.mechanisms = mechanisms
        super().__init__(binary)

    def client(self, user: str) -> Any:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        if "xoauth2" in self.mechanisms:
            client.oauth2_login(user, self.mint(user))
        else:
            client.oauthbearer_login(user, self.mint(user))
        return client

    def url(self, user: str, folder: str = "INBOX", password: str = "") -> str:
        """imap.url for OAuth2: the user and no password."""
        return f"imap://{user.replace('@', '%40')}@127.0.0.1:{self.port}/{folder}"

    def _write_config(self) -> None:
        super()._write_config()
        ext = self.root / "dovecot-oauth2.conf.ext"
        ext.write_text(
            f"""\
introspection_mode = post
introspection_url = {self.introspection_url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
""",
            encoding="utf-8",
        )
        ext.chmod(0o644)
        conf = self.conf.read_text(encoding="utf-8")
        conf = conf.replace(
            "auth_mechanisms = plain login", f"auth_mechanisms = {self.mechanisms}"
        )
        conf, count = re.subn(
            r"passdb \{.*?\n\}",
            f"passdb {{\n  driver = oauth2\n  mechanisms = {self.mechanisms}\n  args = {ext}\n}}",
            conf,
            count=1,
            flags=re.S,
        )
        assert count == 1, "tests/support/dovecot.py's passdb block changed shape"
        self.conf.write_text(conf, encoding="utf-8")


def running(
    introspection_url: str, mint: Callable[[str], str], mechanisms: str = "xoauth2 oauthbearer"
) -> Iterator[OAuth2Dovecot]:
    """A started OAuth2-only Dovecot for a fixture (skips when dovecot is absent)."""
    yield from dovecot.running(
        "the OAuth2 IMAP tests",
        lambda binary: OAuth2Dovecot(binary, introspection_url, mint, mechanisms=mechanisms),
    )
