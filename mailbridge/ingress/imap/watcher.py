"""The IMAP watcher thread: one mailbox folder kept drained into the inbound, with push latency.

A session is: take the lead (``leader.py``), connect and log in (``client.py``), select the
folder, load ``last_uid``, then sweep and drain (``sync.py``) and wait for news: IDLE when
offered, re-issued every ``idle_seconds``; otherwise a poll every ``poll_seconds``. Every failure
(network, server restart, login, database, a lost lock) ends the session and the thread
reconnects with capped exponential backoff, logging the first few attempts and then one line a
minute; nothing ever leaves the thread.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from mailbridge.clock import Clock, system_clock
from mailbridge.errors import MailbridgeError
from mailbridge.ingress.imap.client import (
    ConnectionLost,
    ImapAuthError,
    ImapError,
    announces_mail,
    buffered_responses,
    capabilities,
    close_quietly,
    connect,
    describe,
    ensure_folder,
    is_connection_error,
    mailbox_from_settings,
)
from mailbridge.ingress.imap.leader import Leader, LockLost
from mailbridge.ingress.imap.sync import Memory, Sync
from mailbridge.ingress.mailbox_thread import MailboxThread
from mailbridge.intake import Intake
from mailbridge.ops import oauth2, tls
from mailbridge.settings.sections import ImapSettings
from mailbridge.store import imap_state, tx
from mailbridge.store.imap_state import GaveUp

log = logging.getLogger(__name__)

# The IDLE wait is interrupted this often to look at stop() and the lock.
_IDLE_TICK_SECONDS = 1.0
# Failed connection attempts logged one by one before the log slows to one line a minute.
_LOUD_ATTEMPTS = 3
_QUIET_LOG_SECONDS = 60.0


class Watcher(MailboxThread):
    """One thread that keeps one mailbox folder drained into the inbound."""

    def __init__(
        self,
        engine: tx.Engine,
        settings: ImapSettings,
        intake: Intake,
        *,
        clock: Clock = system_clock,
        gave_up: GaveUp | None = None,
        on_alert: Callable[[], None] | None = None,
        name: str = "imap-watcher",
        tokens: oauth2.TokenSource | None = None,
    ) -> None:
        super().__init__(engine, intake, clock=clock, gave_up=gave_up, on_alert=on_alert)
        # OAuth2 (imap.auth = "xoauth2"): tokens kept across reconnects; None: the password.
        self.tokens = tokens
        self.settings = settings
        self.mailbox = mailbox_from_settings(settings)
        self.name = name
        # For callers and tests: set while an IDLE (or a poll wait) is in progress.
        self.idling = threading.Event()
        self._client: Any = None
        self._failures = 0
        self._last_loud = 0.0
        self._last_kind = ""  # the class of the last failure: a new kind is always logged
        self._warned_plain = False
        # What the sessions learnt about the folder's UIDs, kept across reconnects.
        self.memory = Memory()
        self._leader = Leader(
            engine,
            self.mailbox.key,
            retry_seconds=settings.lock_retry_seconds,
            stop=self._stop,
            on_standby=self._standby,
        )
        self._sync: Sync | None = None

    # -- thread control ------------------------------------------------------------------
    def start(self) -> None:
        self.start_thread(self.name)

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

    def _standby(self) -> None:
        self._phase = "standby"

    @property
    def state(self) -> str:
        """starting, standby (another instance holds the mailbox lock), connecting,
        connected (fetching), idle (IDLE or a poll wait), disconnected (backing off) or
        stopped."""
        state = super().state
        return "idle" if state != "stopped" and self.idling.is_set() else state

    def run(self) -> None:
        """The thread: (lock, connect, watch) until stop(); never raises."""
        if not self.settings.verify_tls:
            log.warning(
                "%s",
                tls.insecure_warning("imap.verify_tls", f"the IMAP server {self.mailbox.host}"),
            )
        while not self.stopping():
            try:
                with self._leader.hold() as leader:
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
        elif isinstance(exc, LockLost):
            what, level = (
                f"lost the database connection holding the lock for {self.mailbox.key}",
                logging.WARNING,
            )
        elif isinstance(exc, tx.DatabaseError | MailbridgeError):
            what, level = (
                f"IMAP watcher for {self.mailbox.key} cannot use the database: {describe(exc)}",
                logging.ERROR,
            )
        elif is_connection_error(exc):
            what, level = (
                f"IMAP connection for account {self.mailbox.account} failed: {describe(exc)}",
                logging.WARNING,
            )
        else:
            # A bug, not the network: the traceback goes with it (it names code, not mail).
            what, level = (
                f"IMAP watcher for {self.mailbox.key} failed unexpectedly: {describe(exc)}",
                logging.ERROR,
            )
        unexpected = level == logging.ERROR and not isinstance(
            exc, ImapAuthError | tx.DatabaseError | MailbridgeError
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
            with tx.write(self.engine) as t:
                last_uid = imap_state.load_state(t, self.mailbox.key, uidvalidity, self.clock())
            self.memory.begin(uidvalidity)
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
            sync = Sync(self, client, caps, uidvalidity, last_uid)
            self._sync = sync
            self._phase = "connected"
            sweep_due = 0.0
            while not self.stopping():
                self._leader.check()
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
            close_quietly(client)

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
            if announces_mail(buffered_responses(client)):
                deadline = 0.0
            while not self.stopping():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(_IDLE_TICK_SECONDS, remaining)
                started = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if any(r and r[0] == b"BYE" for r in responses):
                    raise ConnectionLost("the server said BYE")
                if announces_mail(responses):
                    break
                if not responses and time.monotonic() - started < wait / 2:
                    # idle_check swallows EOF: an early empty return means the socket closed.
                    early += 1
                    if early >= 3:
                        raise ConnectionLost("the server closed the connection")
                else:
                    early = 0
                self._leader.check()
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
