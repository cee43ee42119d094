"""The IMAP connection: where to connect, TLS, login (password, XOAUTH2, OAUTHBEARER), and the
few commands the watcher and the operator commands share (capabilities, folders, MOVE).

Every error names the account (user@host:port), never the password or a token. A plain-text
login is refused when the server says LOGINDISABLED, and an OAuth2 token is never sent without
TLS (except to a loopback address, for tests). Nothing here touches the database.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import LoginError
from imapclient.imapclient import _parse_untagged_response
from imapclient.response_parser import parse_fetch_response

from mailbridge.errors import MailbridgeError
from mailbridge.ops import oauth2, tls
from mailbridge.ops import tls as tls_module
from mailbridge.settings.sections import ImapSettings

log = logging.getLogger(__name__)


class ImapError(MailbridgeError):
    """The server could not be reached or used; the message names the account."""


class ImapAuthError(ImapError):
    """The server refused the login."""


class ConnectionLost(Exception):
    """The server closed the connection (BYE, EOF) while we were waiting."""


# -- the mailbox and the connection ---------------------------------------------------------


@dataclass(frozen=True)
class Mailbox:
    """Where to connect and what to watch, from ``imap.*`` settings."""

    scheme: str  # imap / imaps
    host: str
    port: int
    username: str
    folder: str
    password_in_url: str = field(repr=False, default="")
    password_file: str = ""

    @property
    def account(self) -> str:
        """How logs and errors name the mailbox: never with the password."""
        return f"{self.username}@{self.host}:{self.port}"

    @property
    def key(self) -> str:
        """The ``imap_state`` key and the advisory lock's name: account and folder."""
        return f"{self.account}/{self.folder}"

    def password(self) -> str:
        """The password file's first line (read at each connect, so rotation works), else URL's."""
        if self.password_file:
            try:
                lines = Path(self.password_file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ImapError(
                    f"imap.password_file {self.password_file}: cannot read ({exc}) "
                    f"for account {self.account}"
                ) from exc
            return lines[0] if lines else ""
        return self.password_in_url

    def peer(self, uidvalidity: int, uid: int) -> str:
        """The ``peer`` recorded with a message read from this mailbox."""
        return f"imap {self.host}:{self.port} uid {uidvalidity}/{uid}"[:255]


def mailbox_from_settings(settings: ImapSettings) -> Mailbox:
    if not settings.url:
        raise ImapError("imap.url is not set (MAILBRIDGE_IMAP_URL): no mailbox to watch")
    parts = urlsplit(settings.url)
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise ImapError("imap.url: must start imap:// or imaps://")
    try:
        port = parts.port or (993 if scheme == "imaps" else 143)
    except ValueError as exc:
        raise ImapError(f"imap.url: bad port ({exc})") from exc
    folder = settings.folder or unquote(parts.path.lstrip("/")) or "INBOX"
    return Mailbox(
        scheme=scheme,
        host=parts.hostname or "",
        port=port,
        username=unquote(parts.username or ""),
        folder=folder,
        password_in_url=unquote(parts.password or ""),
        password_file=settings.password_file,
    )


def tls_context(settings: ImapSettings) -> ssl.SSLContext:
    """System CAs plus imap.ca_file (a private CA); checks off only when verify_tls is false."""
    return tls.client_context(verify=settings.verify_tls, ca_file=settings.ca_file)


@dataclass
class Connected:
    client: Any  # IMAPClient (untyped library)
    tls: str  # "imaps", "starttls" or "none"


def connect(
    mailbox: Mailbox, settings: ImapSettings, tokens: oauth2.TokenSource | None = None
) -> Connected:
    """Connect, secure (imaps, else STARTTLS when offered) and log in; errors name the account.

    With ``tokens`` the login is OAuth2 (XOAUTH2, else OAUTHBEARER when that is all the server
    offers), which a server advertising LOGINDISABLED still takes; a refused token is renewed
    once and tried again on the same connection.
    """
    timeout = SocketTimeout(
        connect=min(15.0, settings.timeout_seconds), read=settings.timeout_seconds
    )
    context = tls_context(settings)
    try:
        if mailbox.scheme == "imaps":
            client = IMAPClient(
                mailbox.host, port=mailbox.port, ssl=True, ssl_context=context, timeout=timeout
            )
            tls = "imaps"
        else:
            client = IMAPClient(mailbox.host, port=mailbox.port, ssl=False, timeout=timeout)
            tls = "none"
            if b"STARTTLS" in client.capabilities():
                client.starttls(context)
                tls = "starttls"
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(
            f"cannot connect to IMAP server for account {mailbox.account}: {describe(exc)}"
        ) from exc
    try:
        _keepalive(client)
        if tokens is not None:
            if tls == "none" and not tls_module.is_loopback(mailbox.host):
                raise ImapAuthError(
                    f"IMAP server for account {mailbox.account} offers no TLS: an OAuth2 token "
                    "is never sent in clear text; use imaps://"
                )
            _oauth2_login(client, mailbox, tokens)
            return Connected(client=client, tls=tls)
        if tls == "none" and b"LOGINDISABLED" in client.capabilities():
            raise ImapAuthError(
                f"IMAP server for account {mailbox.account} refuses a plain-text login "
                "(LOGINDISABLED) and offers no STARTTLS: use imaps://"
            )
        password = mailbox.password()
        try:
            client.login(mailbox.username, password)
        except LoginError as exc:
            raise ImapAuthError(
                f"IMAP login failed for account {mailbox.account}: {describe(exc)} "
                "(check the user name and imap.password_file / the password in imap.url)"
            ) from exc
    except BaseException:
        close_quietly(client)
        raise
    return Connected(client=client, tls=tls)


def _oauth2_login(client: Any, mailbox: Mailbox, tokens: oauth2.TokenSource) -> None:
    caps = capabilities(client)
    mechanism = (
        "OAUTHBEARER" if b"AUTH=OAUTHBEARER" in caps and b"AUTH=XOAUTH2" not in caps else "XOAUTH2"
    )
    refusal = ""

    def login(token: str) -> None:
        nonlocal refusal
        try:
            if mechanism == "OAUTHBEARER":
                client.oauthbearer_login(mailbox.username, token)
            else:
                client.oauth2_login(mailbox.username, token)
        except LoginError as exc:
            refusal = describe(exc)
            raise oauth2.TokenRefused(refusal) from exc

    try:
        tokens.call(mailbox.username, login)
    except oauth2.OAuth2Error as exc:
        raise ImapAuthError(f"IMAP account {mailbox.account}: no OAuth2 token: {exc}") from exc
    except oauth2.TokenRefused as exc:
        advice = oauth2.refused_advice(tokens, mailbox.username, "IMAP")
        raise ImapAuthError(
            f"IMAP server for account {mailbox.account} refused a fresh OAuth2 token "
            f"({mechanism}: {refusal}): {advice}"
        ) from exc


def _keepalive(client: Any) -> None:
    """TCP keepalive, so a silently dead link ends an IDLE long before the re-issue."""
    with suppress(Exception):
        sock = client.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 20), ("TCP_KEEPCNT", 3)):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def close_quietly(client: Any) -> None:
    try:
        client.logout()
    except Exception:
        with suppress(Exception):
            client.shutdown()


def describe(exc: BaseException) -> str:
    """One line naming the error: "LoginError: [AUTHENTICATIONFAILED] Authentication failed."."""
    text_ = str(exc).strip()
    # imaplib hands server text over as bytes, so str() of it reads b'...'.
    if len(text_) > 2 and text_[:2] in ("b'", 'b"') and text_[-1] == text_[1]:
        text_ = text_[2:-1]
    text_ = text_.splitlines()[0] if text_ else ""
    return f"{type(exc).__name__}: {text_}" if text_ else type(exc).__name__


def is_connection_error(exc: BaseException) -> bool:
    """Network or server trouble that a reconnect may cure."""
    return isinstance(exc, (OSError, EOFError, imaplib.IMAP4.error, ConnectionLost, ImapError))


def buffered_responses(client: Any) -> list[Any]:
    """Untagged responses already received, read without waiting (as idle_check reads them)."""
    sock = client.socket()
    sock.settimeout(None)
    sock.setblocking(False)
    responses: list[Any] = []
    try:
        while True:
            try:
                line = client._imap._get_line()
            except OSError:  # nothing more to read now (BlockingIOError, timeout)
                break
            except imaplib.IMAP4.abort as exc:
                if "EOF" in str(exc):  # how imaplib reports an empty non-blocking read
                    break
                raise
            responses.append(_parse_untagged_response(line))
    finally:
        sock.setblocking(True)
        client._set_read_timeout()
    return responses


def announces_mail(responses: Sequence[Any]) -> bool:
    return any(
        isinstance(r, tuple) and len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") for r in responses
    )


def capabilities(client: Any) -> frozenset[bytes]:
    return frozenset(bytes(c).upper() for c in client.capabilities())


def ensure_folder(client: Any, name: str) -> bool:
    """Create ``name`` if absent; True if it had to be created."""
    if client.folder_exists(name):
        return False
    try:
        client.create_folder(name)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error:
        if not client.folder_exists(name):  # created meanwhile by someone else: fine
            raise
        return False
    log.info("created IMAP folder %r", name)
    return True


def uid_set(uids: Sequence[int]) -> str:
    """``1:50,52,60:61``: a short command line however many UIDs there are."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    start = prev = ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == prev + 1:
            prev = uid
            continue
        parts.append(str(start) if start == prev else f"{start}:{prev}")
        if uid is not None:
            start = prev = uid
    return ",".join(parts)


def fetch_set(client: Any, which: str, items: Sequence[bytes]) -> dict[int, dict[bytes, Any]]:
    """``UID FETCH which (items)`` for a UID set such as ``1:4999`` or ``5001:*``, which
    imapclient's ``fetch`` will not take (it keeps only the UIDs it was given one by one).

    Every FETCH response comes back keyed by UID, unsolicited ones (a flag change) included:
    the caller keeps those that carry what it asked for.
    """
    names = b" ".join(bytes(i).upper() for i in items)
    tag = client._imap._command("UID", "FETCH", which, b"(" + names + b")")
    typ, data = client._imap._command_complete("FETCH", tag)
    client._checkok("fetch", typ, data)
    typ, data = client._imap._untagged_response(typ, data, "FETCH")
    return dict(parse_fetch_response(data, client.normalise_times, True))


def move(client: Any, uids: Sequence[int], folder: str, caps: frozenset[bytes]) -> None:
    """MOVE, else COPY + \\Deleted + UID EXPUNGE (plain EXPUNGE without UIDPLUS)."""
    if not uids:
        return
    which = uid_set(uids)
    if b"MOVE" in caps:
        client.move(which, folder)
        return
    client.copy(which, folder)
    client.delete_messages(which, silent=True)
    if b"UIDPLUS" in caps:
        client.uid_expunge(which)
    else:
        client.expunge()
