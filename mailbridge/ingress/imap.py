"""The IMAP watcher: a shared mailbox read with push latency, and nothing lost or doubled.

The mailbox is the queue. A message leaves the watched folder only after its raw bytes are
committed (DESIGN invariant 1):

1. ``UID SEARCH ALL``; every UID above ``last_uid`` (stored with its UIDVALIDITY in
   ``imap_state``) is new.
2. ``UID FETCH … BODY.PEEK[]`` in batches (nothing is marked seen), then ``Intake.accept_many``
   commits the batch.
3. ``last_uid`` advances in the database, but never past a UID that is not committed.
4. The batch is moved to the processed folder (MOVE, else COPY + \\Deleted + UID EXPUNGE).

A crash before 2 commits leaves the message in the folder: it is fetched again. A crash between
2 and 4 leaves a committed message in the folder: a UID at or below ``last_uid`` is only moved
(the sweep), one above it is fetched again and intake records it as a duplicate. A UIDVALIDITY
change resets ``last_uid`` to 0: a full rescan, with intake's dedupe doing the work.

Push: IDLE when offered, re-issued every ``idle_seconds``; otherwise a poll every
``poll_seconds``. Every failure (network, server restart, login, database) ends the session and
the thread reconnects with capped exponential backoff; nothing ever leaves the thread. On
PostgreSQL the watcher holds a session-level advisory lock per mailbox on a dedicated
connection, so one of several ``serve`` processes watches, and another takes over when it dies.
"""

from __future__ import annotations

import hashlib
import imaplib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import LoginError
from imapclient.imapclient import _parse_untagged_response
from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mailbridge.clock import Clock, system_clock
from mailbridge.errors import MailbridgeError
from mailbridge.intake import Intake, make_incoming
from mailbridge.ops import oauth2, tls
from mailbridge.ops import tls as tls_module
from mailbridge.settings.config import ImapSettings
from mailbridge.store import inbound
from mailbridge.store.models import FAILED, ImapState, InboundMessage

log = logging.getLogger(__name__)

# Called in the transaction that marks a placeholder failed: tell the duty desk.
GaveUp = Callable[[Session, InboundMessage, str], None]

# How often the lock connection is checked, and the IDLE wait is interrupted to look at stop().
_LOCK_CHECK_SECONDS = 30.0
_IDLE_TICK_SECONDS = 1.0
# Failed connection attempts logged one by one before the log slows to one line a minute.
_LOUD_ATTEMPTS = 3
# Committed messages are moved in groups of up to this many UIDs (and at the end of each pass).
_MOVE_GROUP = 500
# A batch stops at this many bytes too (by RFC822.SIZE), so big attachments cannot exhaust memory;
# a single larger message travels alone.
_MAX_BATCH_BYTES = 32 * 1024 * 1024
_QUIET_LOG_SECONDS = 60.0


class ImapError(MailbridgeError):
    """The server could not be reached or used; the message names the account."""


class ImapAuthError(ImapError):
    """The server refused the login."""


class _ConnectionLost(Exception):
    """The server closed the connection (BYE, EOF) while we were waiting."""


class _LockLost(Exception):
    """The database connection holding the watcher lock went away."""


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


def lock_key(mailbox_key: str) -> int:
    """A signed 64-bit advisory lock key, stable across processes and machines."""
    digest = hashlib.sha256(f"mailbridge-imap:{mailbox_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


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
            f"cannot connect to IMAP server for account {mailbox.account}: {_describe(exc)}"
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
                f"IMAP login failed for account {mailbox.account}: {_describe(exc)} "
                "(check the user name and imap.password_file / the password in imap.url)"
            ) from exc
    except BaseException:
        _close_quietly(client)
        raise
    return Connected(client=client, tls=tls)


def _oauth2_login(client: Any, mailbox: Mailbox, tokens: oauth2.TokenSource) -> None:
    caps = capabilities(client)
    mechanism = (
        "OAUTHBEARER"
        if b"AUTH=OAUTHBEARER" in caps and b"AUTH=XOAUTH2" not in caps
        else "XOAUTH2"
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
            refusal = _describe(exc)
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


def _close_quietly(client: Any) -> None:
    try:
        client.logout()
    except Exception:
        with suppress(Exception):
            client.shutdown()


def _describe(exc: BaseException) -> str:
    """One line naming the error: "LoginError: [AUTHENTICATIONFAILED] Authentication failed."."""
    text_ = str(exc).strip()
    # imaplib hands server text over as bytes, so str() of it reads b'...'.
    if len(text_) > 2 and text_[:2] in ("b'", 'b"') and text_[-1] == text_[1]:
        text_ = text_[2:-1]
    text_ = text_.splitlines()[0] if text_ else ""
    return f"{type(exc).__name__}: {text_}" if text_ else type(exc).__name__


def is_connection_error(exc: BaseException) -> bool:
    """Network or server trouble that a reconnect may cure."""
    return isinstance(exc, (OSError, EOFError, imaplib.IMAP4.error, _ConnectionLost, ImapError))


def _buffered_responses(client: Any) -> list[Any]:
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


def _announces_mail(responses: Sequence[Any]) -> bool:
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


# -- the watcher's state in the database ----------------------------------------------------


def load_state(session: Session, mailbox_key: str, uidvalidity: int, now: datetime) -> int:
    """``last_uid`` for this mailbox, reset to 0 (with a log line) if UIDVALIDITY changed."""
    row = session.scalars(select(ImapState).where(ImapState.mailbox == mailbox_key)).first()
    if row is None:
        session.add(
            ImapState(mailbox=mailbox_key, uidvalidity=uidvalidity, last_uid=0, updated_at=now)
        )
        return 0
    if row.uidvalidity != uidvalidity:
        log.warning(
            "IMAP folder %s: UIDVALIDITY changed from %d to %d (folder recreated or the server's "
            "index rebuilt); rescanning the whole folder from UID 1 (messages already stored are "
            "recognised as duplicates)",
            mailbox_key,
            row.uidvalidity,
            uidvalidity,
        )
        row.uidvalidity = uidvalidity
        row.last_uid = 0
        row.updated_at = now
        inbound.audit(
            session,
            at=now,
            actor="imap",
            entity="imap_state",
            entity_id=mailbox_key[:80],
            action="uidvalidity_reset",
            detail={"uidvalidity": uidvalidity},
        )
        return 0
    return int(row.last_uid)


def advance_state(
    session: Session, mailbox_key: str, uidvalidity: int, last_uid: int, now: datetime
) -> None:
    session.execute(
        update(ImapState)
        .where(
            ImapState.mailbox == mailbox_key,
            ImapState.uidvalidity == uidvalidity,
            ImapState.last_uid < last_uid,
        )
        .values(last_uid=last_uid, updated_at=now)
    )


# -- the watcher ----------------------------------------------------------------------------


def placeholder_message(
    mailbox: Mailbox,
    uidvalidity: int,
    uid: int,
    *,
    error: str,
    facts: dict[str, str],
    now: datetime,
) -> bytes:
    """What is stored in place of a message the server would not hand over whole.

    The Message-ID is fixed per mailbox, UIDVALIDITY and UID, so setting the same message aside
    again (after a restart) is a duplicate, not a second alert.
    """
    tag = hashlib.sha256(mailbox.key.encode()).hexdigest()[:16]
    msg = EmailMessage()
    msg["From"] = "mailbridge IMAP watcher <mailbridge@localhost>"
    msg["Subject"] = f"IMAP message could not be fetched (UID {uid} in {mailbox.folder})"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<imap-unfetchable.{uidvalidity}.{uid}.{tag}@mailbridge.invalid>"
    msg["Auto-Submitted"] = "auto-generated"
    lines = [
        "The mail server would not deliver this message whole, so mailbridge could not read it.",
        "A person must open the mailbox and read it there.",
        "",
        f"Account:     {mailbox.account}",
        f"Folder:      {mailbox.folder}",
        f"UID:         {uid} (UIDVALIDITY {uidvalidity})",
        f"Error:       {error}",
    ]
    lines += [f"{name + ':':<12} {value}" for name, value in facts.items()]
    msg.set_content("\n".join(lines) + "\n")
    return msg.as_bytes()


class Watcher:
    """One thread that keeps one mailbox folder drained into the inbound."""

    def __init__(
        self,
        engine: Engine,
        settings: ImapSettings,
        intake: Intake,
        *,
        clock: Clock = system_clock,
        gave_up: GaveUp | None = None,
        on_alert: Callable[[], None] | None = None,
        name: str = "imap-watcher",
        tokens: oauth2.TokenSource | None = None,
    ) -> None:
        self.engine = engine
        # OAuth2 (imap.auth = "xoauth2"): tokens kept across reconnects; None: the password.
        self.tokens = tokens
        self.settings = settings
        self.intake = intake
        self.clock = clock
        self.gave_up = gave_up
        self.on_alert = on_alert
        self.mailbox = mailbox_from_settings(settings)
        self.name = name
        # For callers and tests: set while an IDLE (or a poll wait) is in progress.
        self.idling = threading.Event()
        self.stored = 0  # messages committed by this watcher (duplicates included)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._failures = 0
        self._last_loud = 0.0
        self._last_kind = ""  # the class of the last failure: a new kind is always logged
        self._warned_plain = False
        # Per UIDVALIDITY: committed but not yet moved; fetch failures; set aside for good.
        self._uidvalidity = 0
        self._committed: set[int] = set()
        self._fetch_failures: dict[int, int] = {}
        self._fetch_errors: dict[int, str] = {}
        # UIDs in a batch whose FETCH cost the connection: fetched one at a time from then on.
        self._suspects: set[int] = set()
        self._set_aside: set[int] = set()
        # PostgreSQL: the connection holding the advisory lock, and when it was last checked.
        self._lock_conn: Connection | None = None
        self._lock_checked = 0.0
        self._sync: _Sync | None = None
        # What the watcher is doing, for /healthz and /metrics (see `state`).
        self._phase = "starting"

    # -- thread control ------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the batch in hand, end IDLE, log out."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            # Stuck in a socket read (a huge message on a slow link): cut the connection.
            client = self._client
            if client is not None:
                with suppress(Exception):
                    client.socket().shutdown(socket.SHUT_RDWR)
            thread.join(5)
            if thread.is_alive():
                log.warning("IMAP watcher for %s did not stop in time", self.mailbox.key)

    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def state(self) -> str:
        """starting, standby (another instance holds the mailbox lock), connecting,
        connected (fetching), idle (IDLE or a poll wait), disconnected (backing off) or
        stopped."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return "stopped"
        if self.idling.is_set():
            return "idle"
        return self._phase

    def run(self) -> None:
        """The thread: (lock, connect, watch) until stop(); never raises."""
        if not self.settings.verify_tls:
            log.warning(
                "%s",
                tls.insecure_warning("imap.verify_tls", f"the IMAP server {self.mailbox.host}"),
            )
        while not self.stopping():
            try:
                with self._leadership() as leader:
                    if leader:
                        self._session()
            except Exception as exc:  # never let anything end the thread
                self._failed(exc)
                continue
            # The session ended without error: stop() was called, or the lock was lost.
        log.info("IMAP watcher for %s stopped", self.mailbox.key)

    # -- failure handling ----------------------------------------------------------------
    def _failed(self, exc: Exception) -> None:
        if self.stopping() and is_connection_error(exc):
            return
        self._phase = "disconnected"
        self._failures += 1
        attempt = self._failures
        delay = min(
            self.settings.max_backoff_seconds,
            self.settings.backoff_seconds * (2 ** min(attempt - 1, 30)),
        )
        now = time.monotonic()
        # A different kind of failure (the server is back but now refuses the login) is news.
        kind = type(exc).__name__
        loud = (
            attempt <= _LOUD_ATTEMPTS
            or now - self._last_loud >= _QUIET_LOG_SECONDS
            or kind != self._last_kind
        )
        self._last_kind = kind
        if isinstance(exc, ImapAuthError):
            what, level = str(exc), logging.ERROR
        elif isinstance(exc, ImapError):
            what, level = str(exc), logging.WARNING
        elif isinstance(exc, _LockLost):
            what, level = (
                f"lost the database connection holding the lock for {self.mailbox.key}",
                logging.WARNING,
            )
        elif isinstance(exc, SQLAlchemyError | MailbridgeError):
            what, level = (
                f"IMAP watcher for {self.mailbox.key} cannot use the database: {_describe(exc)}",
                logging.ERROR,
            )
        elif is_connection_error(exc):
            what, level = (
                f"IMAP connection for account {self.mailbox.account} failed: {_describe(exc)}",
                logging.WARNING,
            )
        else:
            # A bug, not the network: the traceback goes with it (it names code, not mail).
            what, level = (
                f"IMAP watcher for {self.mailbox.key} failed unexpectedly: {_describe(exc)}",
                logging.ERROR,
            )
        unexpected = level == logging.ERROR and not isinstance(
            exc, ImapAuthError | SQLAlchemyError | MailbridgeError
        )
        message = f"{what}; attempt {attempt}, retrying in {delay:g} s"
        if loud:
            if attempt == _LOUD_ATTEMPTS:
                message += " (further failures are logged once a minute)"
            log.log(level, message, exc_info=exc if unexpected else None)
            self._last_loud = now
        else:
            log.debug(message)
        self._stop.wait(delay)

    # -- leadership (PostgreSQL advisory lock) -------------------------------------------
    @contextmanager
    def _leadership(self) -> Iterator[bool]:
        """Yield True while this process may watch the mailbox; False if stopping."""
        if self.engine.dialect.name != "postgresql":
            yield not self.stopping()
            return
        key = lock_key(self.mailbox.key)
        conn: Connection | None = None
        waiting_logged = False
        while not self.stopping():
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                got = bool(conn.execute(select(func.pg_try_advisory_lock(key))).scalar())
            except BaseException:
                conn.invalidate()
                conn.close()
                raise
            if got:
                break
            conn.close()
            conn = None
            self._phase = "standby"
            if not waiting_logged:
                log.info(
                    "another mailbridge instance watches %s; standing by (checking every %g s)",
                    self.mailbox.key,
                    self.settings.lock_retry_seconds,
                )
                waiting_logged = True
            self._stop.wait(self.settings.lock_retry_seconds)
        if conn is None:
            yield False
            return
        log.info("holding the IMAP watcher lock for %s", self.mailbox.key)
        self._lock_conn = conn
        try:
            yield True
        finally:
            self._lock_conn = None
            # Closing the DBAPI connection releases a session-level lock for certain.
            with suppress(Exception):
                conn.invalidate()
            with suppress(Exception):
                conn.close()

    def _check_lock(self, force: bool = False) -> None:
        conn = self._lock_conn
        if conn is None:
            return
        now = time.monotonic()
        if not force and now - self._lock_checked < _LOCK_CHECK_SECONDS:
            return
        try:
            conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise _LockLost() from exc
        self._lock_checked = now

    # -- one connected session -----------------------------------------------------------
    def _session(self) -> None:
        self._phase = "connecting"
        connected = connect(self.mailbox, self.settings, self.tokens)
        client = connected.client
        self._client = client
        try:
            if connected.tls == "none" and not self._warned_plain:
                if not tls.is_loopback(self.mailbox.host):
                    log.warning(
                        "IMAP server %s offers no STARTTLS: the password and the mail cross the "
                        "network unencrypted; use imaps://",
                        self.mailbox.host,
                    )
                self._warned_plain = True
            caps = capabilities(client)
            info = client.select_folder(self.mailbox.folder)
            uidvalidity = int(info[b"UIDVALIDITY"])
            with Session(self.engine) as session, session.begin():
                last_uid = load_state(session, self.mailbox.key, uidvalidity, self.clock())
            if uidvalidity != self._uidvalidity:
                self._uidvalidity = uidvalidity
                self._committed.clear()
                self._fetch_failures.clear()
                self._fetch_errors.clear()
                self._suspects.clear()
                self._set_aside.clear()
            ensure_folder(client, self.settings.processed_folder)
            if self.settings.failed_folder:
                ensure_folder(client, self.settings.failed_folder)
            idle = b"IDLE" in caps
            log.info(
                "watching IMAP folder %s (%s, %s; UIDVALIDITY %d, last stored UID %d; "
                "processed mail moves to %r by %s)",
                self.mailbox.key,
                {"imaps": "TLS", "starttls": "STARTTLS", "none": "no TLS"}[connected.tls],
                "IDLE" if idle else f"polling every {self.settings.poll_seconds:g} s",
                uidvalidity,
                last_uid,
                self.settings.processed_folder,
                "MOVE" if b"MOVE" in caps else "COPY + EXPUNGE",
            )
            sync = _Sync(self, client, caps, uidvalidity, last_uid)
            self._sync = sync
            self._phase = "connected"
            sweep_due = 0.0
            while not self.stopping():
                self._check_lock()
                if time.monotonic() >= sweep_due:
                    sync.sweep()
                    sweep_due = time.monotonic() + self.settings.idle_seconds
                sync.drain()
                if self.stopping():
                    break
                self.healthy()
                if idle:
                    self._idle(client)
                else:
                    self._poll()
        finally:
            self._phase = "disconnected"
            self._client = None
            self.idling.clear()
            sync_, self._sync = self._sync, None
            if sync_ is not None:
                sync_.close()
            _close_quietly(client)

    def healthy(self) -> None:
        """The session works (a batch committed, or the folder is drained): reset the backoff.

        Not at login: a server that accepts the login and then drops us must still back off.
        """
        if self._failures:
            log.info(
                "IMAP connection for account %s restored after %d failed attempt(s)",
                self.mailbox.account,
                self._failures,
            )
        self._failures = 0

    def _idle(self, client: Any) -> None:
        """IDLE until the folder grows, idle_seconds pass, or stop(); raise if the server left."""
        client.idle()
        self.idling.set()
        ok = False
        try:
            deadline = time.monotonic() + self.settings.idle_seconds
            early = 0
            # Mail that arrived between the last SEARCH and IDLE is announced at once, often in
            # the same packet as "+ idling". idle() read that packet into imaplib's buffer,
            # where idle_check (which polls the socket) never looks: read it now.
            if _announces_mail(_buffered_responses(client)):
                deadline = 0.0
            while not self.stopping():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(_IDLE_TICK_SECONDS, remaining)
                started = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if any(r and r[0] == b"BYE" for r in responses):
                    raise _ConnectionLost("the server said BYE")
                if _announces_mail(responses):
                    break
                if not responses and time.monotonic() - started < wait / 2:
                    # idle_check swallows EOF: an early empty return means the socket closed.
                    early += 1
                    if early >= 3:
                        raise _ConnectionLost("the server closed the connection")
                else:
                    early = 0
                self._check_lock()
            ok = True
        finally:
            self.idling.clear()
            if ok:
                client.idle_done()

    def _poll(self) -> None:
        self.idling.set()
        try:
            self._stop.wait(self.settings.poll_seconds)
        finally:
            self.idling.clear()

    # -- setting aside a message the server will not deliver -----------------------------
    def set_aside(
        self, client: Any, caps: frozenset[bytes], uid: int, error: str, *, probe: bool = True
    ) -> None:
        """Store a failed placeholder (the duty desk is alerted), then move the message aside.

        ``probe``: ask for the envelope for the placeholder; not when fetching the message
        cost the connection (the envelope may well do the same).
        """
        facts: dict[str, str] = {}
        try:
            if not probe:
                raise LookupError("not probed")
            data = client.fetch([uid], [b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE"]).get(uid, {})
            if b"INTERNALDATE" in data:
                facts["Arrived"] = str(data[b"INTERNALDATE"])
            if b"RFC822.SIZE" in data:
                facts["Size"] = f"{data[b'RFC822.SIZE']} bytes"
            envelope = data.get(b"ENVELOPE")
            if envelope is not None and envelope.from_:
                sender = envelope.from_[0]
                mailbox_b, host_b = sender.mailbox or b"", sender.host or b""
                facts["From"] = (
                    f"{mailbox_b.decode(errors='replace')}@{host_b.decode(errors='replace')}"
                )
        except imaplib.IMAP4.abort:
            raise
        except Exception as exc:
            log.debug("no envelope for UID %d: %s", uid, _describe(exc))
        now = self.clock()
        raw = placeholder_message(
            self.mailbox, self._uidvalidity, uid, error=error, facts=facts, now=now
        )
        incoming = make_incoming(
            raw,
            source="imap",
            mail_from=None,
            rcpt_tos=[],
            peer=self._peer(uid),
            clock=lambda: now,
        )
        alerted = False
        with Session(self.engine) as session, session.begin():
            result = inbound.insert_batch(session, [incoming])[0]
            if result.duplicate_of is None:
                row = session.get(InboundMessage, result.id)
                assert row is not None
                note = f"IMAP UID {uid} in {self.mailbox.key} could not be fetched: {error}"
                inbound.finish(session, row, status=FAILED, now=now, error=note, actor="imap")
                if self.gave_up is not None:
                    with session.begin_nested():
                        self.gave_up(session, row, note)
                    alerted = True
        where = "left in the folder"
        if self.settings.failed_folder:
            try:
                ensure_folder(client, self.settings.failed_folder)
                move(client, [uid], self.settings.failed_folder, caps)
                where = f"moved to {self.settings.failed_folder!r}"
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as exc:
                where = f"left in the folder (moving it failed: {_describe(exc)})"
        self._set_aside.add(uid)
        self._suspects.discard(uid)
        log.error(
            "IMAP message UID %d in %s could not be fetched after %d attempt(s): %s; stored a "
            "placeholder as message id=%s (failed%s); the message is %s",
            uid,
            self.mailbox.key,
            self.settings.fetch_attempts,
            error,
            result.id,
            ", duty desk alerted"
            if alerted
            else ("" if result.duplicate_of is None else ", already reported"),
            where,
        )
        if alerted and self.on_alert is not None:
            self.on_alert()

    def _peer(self, uid: int) -> str:
        return f"imap {self.mailbox.host}:{self.mailbox.port} uid {self._uidvalidity}/{uid}"[:255]


@dataclass
class _Pending:
    """A batch handed to the committer: its future, its UIDs, the last_uid it records."""

    future: Future[None]
    uids: list[int]
    new_last: int


class _Sync:
    """The drain and the sweep for one selected folder in one session."""

    def __init__(
        self, watcher: Watcher, client: Any, caps: frozenset[bytes], uidvalidity: int, last_uid: int
    ) -> None:
        self.w = watcher
        self.client = client
        self.caps = caps
        self.uidvalidity = uidvalidity
        self.last_uid = last_uid
        self.settings = watcher.settings
        self._to_move: list[int] = []
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-commit")

    def close(self) -> None:
        self._committer.shutdown(wait=True)

    def _search(self) -> list[int]:
        return sorted(int(u) for u in self.client.search(["ALL"]))

    def sweep(self) -> None:
        """Move what is committed but still here (a crash or a failed move came between)."""
        present = self._search()
        leftover = [
            u
            for u in present
            if (u <= self.last_uid or u in self.w._committed) and u not in self.w._set_aside
        ]
        if leftover:
            log.info(
                "moving %d already stored message(s) out of %s",
                len(leftover),
                self.w.mailbox.key,
            )
            self._move_committed(leftover)
        aside = [u for u in present if u in self.w._set_aside]
        if aside and self.settings.failed_folder:
            try:
                move(self.client, aside, self.settings.failed_folder, self.caps)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as exc:
                log.warning(
                    "could not move %d unfetchable message(s) to %r: %s",
                    len(aside),
                    self.settings.failed_folder,
                    _describe(exc),
                )

    def drain(self) -> None:
        """Store and move every new message, batch by batch, until a search finds none."""
        w = self.w
        while not w.stopping():
            present = self._search()
            here = set(present)
            for uid in set(w._fetch_failures) - here:  # expunged by someone else meanwhile
                w._fetch_failures.pop(uid, None)
                w._fetch_errors.pop(uid, None)
            w._suspects &= here
            todo = [
                u
                for u in present
                if u > self.last_uid and u not in w._committed and u not in w._set_aside
            ]
            if not todo:
                return
            sizes = self._sizes(todo)
            retry_later = False
            # Pipelined: batch k commits on the committer thread while batch k+1 is fetched.
            # Batches still commit one at a time and in UID order.
            pending: _Pending | None = None
            try:
                for chunk in self._chunks(todo, sizes):
                    if w.stopping():
                        break
                    fetched = self._fetch_batch(chunk)
                    if fetched is None:
                        continue
                    good, bad = fetched
                    if pending is not None:
                        self._finish(pending)
                        pending = None
                    if good:
                        pending = self._submit(good, present)
                    retry_later |= self._handle_bad(bad)
                    if len(self._to_move) >= _MOVE_GROUP:
                        self._flush_moves()
                if pending is not None:
                    self._finish(pending)
                    pending = None
            except BaseException:
                if pending is not None:
                    with suppress(Exception):
                        self._finish(pending)  # a batch that did commit is recorded as such
                self._flush_moves(quiet=True)
                raise
            self._flush_moves()
            if w.stopping():
                return
            if retry_later:
                worst = max(w._fetch_failures.values(), default=1)
                w._stop.wait(
                    min(self.settings.max_backoff_seconds, self.settings.backoff_seconds * worst)
                )

    def _sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE by UID (cheap: servers keep it in their index); {} if refused."""
        sizes: dict[int, int] = {}
        try:
            for start in range(0, len(uids), 1000):  # command lines stay well under 64 KB
                data = self.client.fetch(uids[start : start + 1000], [b"RFC822.SIZE"])
                sizes.update({int(u): int(v.get(b"RFC822.SIZE") or 0) for u, v in data.items()})
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error:
            return {}
        return sizes

    def _chunks(self, todo: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
        """Batches in UID order, of batch_size UIDs or _MAX_BATCH_BYTES; a suspect goes alone."""
        batch: list[int] = []
        used = 0
        for uid in todo:
            if uid in self.w._suspects:
                if batch:
                    yield batch
                    batch, used = [], 0
                yield [uid]
                continue
            size = sizes.get(uid, 0)
            if batch and used + size > _MAX_BATCH_BYTES:
                yield batch
                batch, used = [], 0
            batch.append(uid)
            used += size
            if len(batch) >= self.settings.batch_size:
                yield batch
                batch, used = [], 0
        if batch:
            yield batch

    def _flush_moves(self, *, quiet: bool = False) -> None:
        """Move what this pass committed, in one command per group (a round trip saved per batch).

        ``quiet``: on the way out of an error, try, but let the first error stand.
        """
        uids, self._to_move = self._to_move, []
        if not uids:
            return
        try:
            self._move_committed(uids)
        except Exception:
            if not quiet:
                raise

    def _fetch(self, uids: list[int]) -> dict[int, bytes | None]:
        """Bodies by UID; None where the server gave nothing whole (the reason in _fetch_errors).

        A FETCH that costs the connection (Dovecot hangs up when it cannot read a message file)
        makes its UIDs suspects, fetched one at a time in the next session; a single UID that
        does it counts a failed attempt. The error then ends the session as usual.
        """
        w = self.w
        try:
            data = self.client.fetch(uids, [b"BODY.PEEK[]"])
        except (imaplib.IMAP4.abort, OSError, EOFError) as exc:
            if len(uids) == 1:
                uid = uids[0]
                w._suspects.add(uid)
                w._fetch_failures[uid] = w._fetch_failures.get(uid, 0) + 1
                w._fetch_errors[uid] = f"the server hung up on fetching it ({_describe(exc)})"
                log.warning(
                    "IMAP message UID %d in %s: fetching it ended the connection (attempt %d "
                    "of %d)",
                    uid,
                    w.mailbox.key,
                    w._fetch_failures[uid],
                    self.settings.fetch_attempts,
                )
            else:
                w._suspects.update(uids)
            raise
        except imaplib.IMAP4.error as exc:
            if len(uids) == 1:
                w._fetch_errors[uids[0]] = _describe(exc)
                return {uids[0]: None}
            # One bad message fails the whole command on some servers: ask one at a time.
            result: dict[int, bytes | None] = {}
            for uid in uids:
                result.update(self._fetch([uid]))
            return result
        bodies: dict[int, bytes | None] = {}
        for uid in uids:
            body = data.get(uid, {}).get(b"BODY[]")
            if isinstance(body, bytes | bytearray):
                bodies[uid] = bytes(body)
            else:
                bodies[uid] = None
                w._fetch_errors[uid] = "the server returned no message body"
        return bodies

    def _fetch_batch(self, chunk: list[int]) -> tuple[list[tuple[int, bytes]], list[int]] | None:
        """(good, bad) bodies of a batch; None when the batch was settled without a fetch."""
        w = self.w
        if len(chunk) == 1 and w._fetch_failures.get(chunk[0], 0) >= self.settings.fetch_attempts:
            # Its fetches cost the connection each time: set it aside without another try.
            uid = chunk[0]
            w.set_aside(self.client, self.caps, uid, self._error(uid), probe=False)
            return None
        bodies = self._fetch(chunk)
        good = [(uid, body) for uid, body in bodies.items() if body is not None]
        bad = [uid for uid, body in bodies.items() if body is None]
        return good, bad

    def _submit(self, good: list[tuple[int, bytes]], present: list[int]) -> _Pending:
        """Commit the messages and the new last_uid in one transaction, on the committer."""
        w = self.w
        uids = [uid for uid, _ in good]
        new_last = self._last_after(present, set(uids))
        key, uidvalidity, old_last = w.mailbox.key, self.uidvalidity, self.last_uid

        def commit() -> None:
            now = w.clock()
            items = [
                make_incoming(
                    body,
                    source="imap",
                    mail_from=None,
                    rcpt_tos=[],
                    peer=w._peer(uid),
                    clock=lambda: now,
                )
                for uid, body in good
            ]

            def record(session: Session, _results: object) -> None:
                if new_last > old_last:
                    advance_state(session, key, uidvalidity, new_last, now)

            # It commits, or raises: then nothing moves and nothing is forgotten.
            w.intake.accept_many(items, also=record)

        return _Pending(self._committer.submit(commit), uids, new_last)

    def _finish(self, pending: _Pending) -> None:
        """Wait for a batch's commit; only then is it moved and last_uid advanced here."""
        w = self.w
        pending.future.result()
        self.last_uid = max(self.last_uid, pending.new_last)
        w.stored += len(pending.uids)
        for uid in pending.uids:
            w._committed.add(uid)
            w._fetch_failures.pop(uid, None)
            w._fetch_errors.pop(uid, None)
            w._suspects.discard(uid)
        self._to_move.extend(pending.uids)
        w.healthy()

    def _handle_bad(self, bad: list[int]) -> bool:
        """Count a failed fetch per UID; set aside those out of attempts. True: retry some."""
        w = self.w
        retry = False
        for uid in bad:
            count = w._fetch_failures.get(uid, 0) + 1
            w._fetch_failures[uid] = count
            if count >= self.settings.fetch_attempts:
                w.set_aside(self.client, self.caps, uid, self._error(uid))
            else:
                log.warning(
                    "IMAP message UID %d in %s: %s (attempt %d of %d); trying again",
                    uid,
                    w.mailbox.key,
                    self._error(uid),
                    count,
                    self.settings.fetch_attempts,
                )
                retry = True
        return retry

    def _error(self, uid: int) -> str:
        return self.w._fetch_errors.get(uid, "the server returned no message body")

    def _last_after(self, present: list[int], committing: set[int]) -> int:
        """The new last_uid: the highest UID below which everything still here is committed."""
        new_last = self.last_uid
        for uid in present:
            if uid <= self.last_uid:
                continue
            if uid not in self.w._committed and uid not in committing:
                break
            new_last = uid
        return new_last

    def _move_committed(self, uids: list[int]) -> None:
        try:
            move(self.client, uids, self.settings.processed_folder, self.caps)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            # Stored already; the sweep tries again later. Never fetched twice in this session.
            log.warning(
                "could not move %d stored message(s) from %s to %r: %s; will retry",
                len(uids),
                self.w.mailbox.key,
                self.settings.processed_folder,
                _describe(exc),
            )
            return
        self.w._committed.difference_update(uids)


# -- operator commands: check and backfill --------------------------------------------------


def check(
    settings: ImapSettings,
    engine: Engine | None = None,
    tokens: oauth2.TokenSource | None = None,
) -> list[str]:
    """Connect, log in and describe the mailbox; raise ImapError naming the account."""
    mailbox = mailbox_from_settings(settings)
    lines = [f"account:    {mailbox.account} ({mailbox.scheme}://)"]
    connected = connect(mailbox, settings, tokens)
    if tokens is not None:
        lines.append("login:      " + oauth2.describe(tokens, mailbox.username))
    client = connected.client
    try:
        tls = {
            "imaps": "TLS (imaps)",
            "starttls": "STARTTLS",
            "none": "NONE: password and mail travel unencrypted",
        }[connected.tls]
        if connected.tls != "none":
            tls += (
                ", certificate verified"
                if settings.verify_tls
                else ", certificate NOT verified (imap.verify_tls = false; tests only!)"
            )
        lines.append(f"security:   {tls}")
        caps = capabilities(client)
        lines.append(
            "push:       "
            + (
                f"IDLE (re-issued every {settings.idle_seconds:g} s)"
                if b"IDLE" in caps
                else f"no IDLE: polling every {settings.poll_seconds:g} s"
            )
        )
        lines.append(
            "move:       "
            + (
                "MOVE"
                if b"MOVE" in caps
                else "no MOVE: COPY + \\Deleted + "
                + ("UID EXPUNGE" if b"UIDPLUS" in caps else "EXPUNGE (no UIDPLUS!)")
            )
        )
        lines.append("capabilities: " + " ".join(sorted(c.decode(errors="replace") for c in caps)))
        if not client.folder_exists(mailbox.folder):
            raise ImapError(f"account {mailbox.account}: folder {mailbox.folder!r} does not exist")
        status = client.folder_status(mailbox.folder, [b"MESSAGES", b"UIDVALIDITY", b"UIDNEXT"])
        uidvalidity = int(status[b"UIDVALIDITY"])
        lines.append(
            f"folder:     {mailbox.folder!r}: {status[b'MESSAGES']} message(s), "
            f"UIDVALIDITY {uidvalidity}, UIDNEXT {status[b'UIDNEXT']}"
        )
        for label, name in (
            ("processed", settings.processed_folder),
            ("failed", settings.failed_folder),
        ):
            if not name:
                lines.append(f"{label + ':':<11} none (unfetchable mail stays in the folder)")
                continue
            exists = client.folder_exists(name)
            lines.append(
                f"{label + ':':<11} {name!r} "
                + ("exists" if exists else "absent (the watcher creates it)")
            )
        if engine is not None:
            lines.append("state:      " + _state_line(engine, mailbox, uidvalidity))
    finally:
        _close_quietly(client)
    return lines


def _state_line(engine: Engine, mailbox: Mailbox, uidvalidity: int) -> str:
    try:
        with Session(engine) as session:
            row = session.scalars(select(ImapState).where(ImapState.mailbox == mailbox.key)).first()
    except SQLAlchemyError as exc:
        return f"unknown (database: {_describe(exc)})"
    if row is None:
        return "never watched (the first run stores everything in the folder)"
    if row.uidvalidity != uidvalidity:
        return f"UIDVALIDITY changed ({row.uidvalidity} stored): the watcher will rescan the folder"
    return f"last stored UID {row.last_uid}, updated {row.updated_at.isoformat()}"


@dataclass
class BackfillReport:
    found: int = 0
    stored: int = 0
    duplicates: int = 0
    unfetchable: list[int] = field(default_factory=list)


def backfill(
    settings: ImapSettings,
    intake: Intake,
    *,
    since: date | None = None,
    folder: str | None = None,
    progress: Callable[[BackfillReport], None] | None = None,
    tokens: oauth2.TokenSource | None = None,
) -> BackfillReport:
    """Store every message in the folder (optionally SINCE a date), read-only on the server.

    Nothing is moved or flagged, and ``imap_state`` is untouched: re-running stores nothing new
    (intake's dedupe), and the watcher still moves what it finds in the folder it watches.
    """
    mailbox = mailbox_from_settings(settings)
    name = folder or mailbox.folder
    connected = connect(mailbox, settings, tokens)
    client = connected.client
    report = BackfillReport()
    try:
        if not client.folder_exists(name):
            raise ImapError(f"account {mailbox.account}: folder {name!r} does not exist")
        info = client.select_folder(name, readonly=True)
        uidvalidity = int(info[b"UIDVALIDITY"])
        criteria: list[Any] = ["SINCE", since] if since else ["ALL"]
        uids = sorted(int(u) for u in client.search(criteria))
        report.found = len(uids)
        if progress:
            progress(report)
        for start in range(0, len(uids), settings.batch_size):
            chunk = uids[start : start + settings.batch_size]
            data = client.fetch(chunk, [b"BODY.PEEK[]"])
            items = []
            for uid in chunk:
                body = data.get(uid, {}).get(b"BODY[]")
                if not isinstance(body, bytes | bytearray):
                    report.unfetchable.append(uid)
                    continue
                items.append(
                    make_incoming(
                        bytes(body),
                        source="imap",
                        mail_from=None,
                        rcpt_tos=[],
                        peer=f"imap {mailbox.host}:{mailbox.port} uid {uidvalidity}/{uid}"[:255],
                    )
                )
            for result in intake.accept_many(items):
                report.stored += 1
                report.duplicates += result.duplicate_of is not None
            if progress:
                progress(report)
    except (OSError, EOFError) as exc:
        raise ImapError(
            f"IMAP connection for account {mailbox.account} failed: {_describe(exc)}"
        ) from exc
    except imaplib.IMAP4.error as exc:
        raise ImapError(f"IMAP error for account {mailbox.account}: {_describe(exc)}") from exc
    finally:
        _close_quietly(client)
    return report
