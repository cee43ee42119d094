"""OAuth2 access tokens for the mailbox (IMAP) and the relay (SMTP), behind one interface.

Exchange Online and Google Workspace no longer take passwords for IMAP and SMTP submission: a
client presents an access token instead (SASL XOAUTH2 or OAUTHBEARER). Three providers make
one:

- ``microsoft``: MSAL's confidential client, the client-credentials grant (an app-only token,
  ``https://outlook.office365.com/.default``), with a client secret or a certificate read from
  a file;
- ``google``: a service account with domain-wide delegation (google-auth), acting as the mailbox
  user;
- ``command``: a program that prints a token (the convention of mutt's, aerc's and isync's
  oauth2 helpers), run without a shell; it serves any other provider.

:class:`TokenSource` keeps tokens in memory, renews them a few minutes before they expire, and
:meth:`TokenSource.call` renews a token the server refused once and retries once. Secrets and
tokens never appear in a log line or an error message: errors name the setting, the provider's
error code and what to fix.

The providers themselves are in oauth2_command.py, oauth2_microsoft.py and oauth2_google.py,
and the choice among them from the settings in oauth2_providers.py; this module is what every
user of a token needs.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests

from mailbridge.errors import MailbridgeError

log = logging.getLogger(__name__)

T = TypeVar("T")

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
# The one scope Gmail accepts for IMAP and SMTP.
GOOGLE_SCOPE = "https://mail.google.com/"
PROVIDERS = ("microsoft", "google", "command")

# Renew this long before the stated expiry, so a token never dies mid-session.
RENEW_MARGIN_SECONDS = 300.0


class OAuth2Error(MailbridgeError):
    """No token could be had; the message says which setting or grant is wrong."""


class TokenRefused(MailbridgeError):
    """A server refused a token (raised by the caller's ``use`` in :meth:`TokenSource.call`)."""


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    # Wall-clock seconds (time.time()) when the provider says it expires.
    expires_at: float
    # The app roles (Microsoft) or scopes the token carries, when it says; for diagnostics.
    roles: tuple[str, ...] = ()
    # The resource the token is for (a JWT's ``aud``), when it says; for diagnostics.
    audience: str = ""


class Provider(Protocol):
    """Fetches a fresh token for a mailbox user; raises OAuth2Error naming what is wrong."""

    name: str

    def fetch(self, user: str) -> Token: ...


# -- the cache ------------------------------------------------------------------------------


class TokenSource:
    """Tokens per user from one provider: cached in memory, renewed before expiry, thread-safe."""

    def __init__(
        self,
        provider: Provider,
        *,
        clock: Callable[[], float] = time.time,
        margin: float = RENEW_MARGIN_SECONDS,
    ) -> None:
        self.provider = provider
        self.clock = clock
        self.margin = margin
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        # When to fetch a new one: ``margin`` before expiry, or half-way for a short-lived token.
        self._renew_at: dict[str, float] = {}
        self.fetches = 0  # tokens fetched from the provider (for tests and check output)

    def token(self, user: str) -> Token:
        """The cached token, or a new one when it is absent or about to expire."""
        with self._lock:
            cached = self._tokens.get(user)
            if cached is not None and self.clock() < self._renew_at[user]:
                return cached
            return self._fetch(user)

    def cached(self, user: str) -> Token | None:
        """The token in hand for ``user``, if any (no fetch)."""
        with self._lock:
            return self._tokens.get(user)

    def renew(self, user: str) -> Token:
        """Drop the cached token (the server refused it) and fetch a new one."""
        with self._lock:
            self._tokens.pop(user, None)
            return self._fetch(user)

    def _fetch(self, user: str) -> Token:
        now = self.clock()
        token = self.provider.fetch(user)
        self.fetches += 1
        self._tokens[user] = token
        lifetime = max(0.0, token.expires_at - now)
        self._renew_at[user] = token.expires_at - min(self.margin, lifetime / 2)
        log.debug(
            "new OAuth2 access token from %s for %s, valid %d s",
            self.provider.name,
            user,
            max(0, int(token.expires_at - self.clock())),
        )
        return token

    def call(self, user: str, use: Callable[[str], T]) -> T:
        """``use(token)``; when it raises TokenRefused, renew the token once and try once more.

        A second refusal propagates: the caller turns it into its own clear error.
        """
        first = self.token(user)
        try:
            return use(first.value)
        except TokenRefused:
            log.info(
                "the server refused the OAuth2 token for %s; fetching a new one and retrying once",
                user,
            )
        return use(self.renew(user).value)


# -- diagnostics (for `imap check`, `relay check` and the logs) ---------------------------

_ROLE = {
    "IMAP": "IMAP.AccessAsApp",
    "SMTP": "SMTP.SendAsApp",
    "Graph": "Mail.ReadWrite",
    "GraphSend": "Mail.Send",
}


# A Microsoft token's ``aud`` for each resource: the resource's app ID, or its URI in any
# cloud (outlook.office365.com, outlook.office365.us, partner.outlook.cn; graph.microsoft.com,
# graph.microsoft.us, microsoftgraph.chinacloudapi.cn).
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def _audience_fits(service: str, audience: str) -> bool:
    host = urlsplit(audience).hostname or ""
    if service.startswith("Graph"):
        return audience == GRAPH_APP_ID or "graph" in host
    return audience == EXCHANGE_APP_ID or host.startswith(("outlook.", "partner.outlook."))


def wrong_audience(service: str, audience: str) -> str:
    """The "fix the scope" advice for a Microsoft token issued for another resource."""
    if service.startswith("Graph"):
        return (
            f"the token is for {audience}, not Microsoft Graph: fix the scope (Graph needs "
            "https://graph.microsoft.com/.default) (docs/m365.md)"
        )
    return (
        f"the token is for {audience}, not Exchange Online: fix the scope (oauth2.scope must be "
        "https://outlook.office365.com/.default, or empty for that default) (docs/m365.md)"
    )


def refused_advice(tokens: TokenSource, user: str, service: str) -> str:
    """What to fix when ``service`` (IMAP, SMTP, Graph or GraphSend) refused a fresh token."""
    name = tokens.provider.name
    cached = tokens.cached(user)
    roles = cached.roles if cached is not None else ()
    if name == "microsoft":
        audience = cached.audience if cached is not None else ""
        if audience and not _audience_fits(service, audience):
            # Checked first: a token for another resource carries that resource's roles, and
            # "add the permission" would send IT to fix what is not broken.
            return wrong_audience(service, audience)
        role = _ROLE[service]
        if role not in roles:
            api = "Microsoft Graph" if service.startswith("Graph") else "Office 365 Exchange Online"
            return (
                f"the token carries no {role} role: add the application permission {role} "
                f"({api}) to the app registration and grant admin consent (docs/m365.md)"
            )
        if service.startswith("Graph"):
            return (
                f"Microsoft Graph refused the app for {user}: an application access policy or "
                "RBAC for Applications scope that leaves this mailbox out, or the mailbox does "
                "not exist (docs/m365.md)"
            )
        if service == "SMTP":
            return (
                f"Exchange Online refused the app for {user}: register its service principal "
                "(New-ServicePrincipal), give it the mailbox (Add-MailboxPermission "
                "-AccessRights FullAccess), and switch SMTP AUTH on for the mailbox "
                "(Set-CASMailbox -SmtpClientAuthenticationDisabled $false) (docs/m365.md)"
            )
        return (
            f"Exchange Online refused the app for {user}: register its service principal "
            "(New-ServicePrincipal), give it the mailbox (Add-MailboxPermission -AccessRights "
            "FullAccess), and check the application access policy (docs/m365.md)"
        )
    if name == "google":
        return (
            f"Gmail refused the token for {user}: check that the service account's client ID "
            f"has the scope {GOOGLE_SCOPE} under domain-wide delegation and that "
            f"{service} is on for the user (docs/google.md)"
        )
    return (
        f"the token from oauth2.token_command was refused for {user}: the helper must sign in "
        f"as this user (MAILBRIDGE_OAUTH2_USER) and ask for the {service} scope"
    )


def describe(tokens: TokenSource, user: str) -> str:
    """One line for `check` output: provider, lifetime and roles of the token in use."""
    cached = tokens.cached(user)
    if cached is None:
        return f"OAuth2 ({tokens.provider.name})"
    left = max(0, int(cached.expires_at - tokens.clock()))
    roles = f", roles/scopes: {' '.join(cached.roles)}" if cached.roles else ""
    return f"OAuth2 ({tokens.provider.name}), token valid for {left // 60} min{roles}"


# -- SASL ---------------------------------------------------------------------------------


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT access token's claims, NOT verified (for diagnostics only); {} when opaque."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_roles(token: str) -> tuple[str, ...]:
    claims = unverified_claims(token)
    found = claims.get("roles") or claims.get("scp") or claims.get("scope") or []
    if isinstance(found, str):
        found = found.split()
    return tuple(str(r) for r in found) if isinstance(found, list) else ()


class _HttpSession(requests.Session):
    """requests with our CA bundle for every request: a session's own ``verify`` loses to
    REQUESTS_CA_BUNDLE in the environment, a request's does not. Proxies still come from the
    environment (HTTPS_PROXY), as councils' networks often need."""

    def __init__(self, ca_file: str, timeout: float) -> None:
        super().__init__()
        self._verify: str | bool = ca_file or True
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("verify") is None:
            kwargs["verify"] = self._verify
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(method, url, *args, **kwargs)


def http_session(ca_file: str, timeout: float) -> requests.Session:
    """An HTTP session for token endpoints and Graph: ``ca_file`` (else the system's CAs) and
    ``timeout`` on every request; proxies from the environment."""
    return _HttpSession(ca_file, timeout)
