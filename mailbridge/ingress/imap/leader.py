"""One watcher per mailbox folder across all ``serve`` processes.

On PostgreSQL the watcher holds a session-level advisory lock per mailbox folder on a connection
of its own (``store/advisory.py``): the first process to take it watches, the others stand by
and try again every ``imap.lock_retry_seconds``, and when the leader dies its connection closes,
the lock is released and a standby takes over. The leader checks its lock connection every
30 s and ends its IMAP session when it is gone (:class:`LockLost`), so two processes never move
the same messages. On SQLite there is one process, and always a leader.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mailbridge.store import advisory, tx

log = logging.getLogger(__name__)

# How often the lock connection is checked (also from inside IDLE).
_LOCK_CHECK_SECONDS = 30.0


class LockLost(Exception):
    """The database connection holding the watcher lock went away."""


def lock_key(mailbox_key: str) -> int:
    """The advisory lock key of a mailbox folder (``Mailbox.key``)."""
    return advisory.key_of("mailbridge-imap", mailbox_key)


class Leader:
    """Leadership of one mailbox folder, for one watcher thread."""

    def __init__(
        self,
        engine: tx.Engine,
        mailbox_key: str,
        *,
        retry_seconds: float,
        stop: threading.Event,
        on_standby: Callable[[], None],
    ) -> None:
        self.engine = engine
        self.mailbox_key = mailbox_key
        self.retry_seconds = retry_seconds
        self._stop = stop
        self._on_standby = on_standby
        self._lock: advisory.Lock | None = None
        self._checked = 0.0

    @contextmanager
    def hold(self) -> Iterator[bool]:
        """Yield True while this process may watch the mailbox; False if stopping."""
        if not advisory.needed(self.engine):
            yield not self._stop.is_set()
            return
        key = lock_key(self.mailbox_key)
        lock: advisory.Lock | None = None
        waiting_logged = False
        while not self._stop.is_set():
            lock = advisory.try_lock(self.engine, key)
            if lock is not None:
                break
            self._on_standby()
            if not waiting_logged:
                log.info(
                    "another mailbridge instance watches %s; standing by (checking every %g s)",
                    self.mailbox_key,
                    self.retry_seconds,
                )
                waiting_logged = True
            self._stop.wait(self.retry_seconds)
        if lock is None:
            yield False
            return
        log.info("holding the IMAP watcher lock for %s", self.mailbox_key)
        self._lock = lock
        try:
            yield True
        finally:
            self._lock = None
            advisory.release(lock)

    def check(self) -> None:
        """Raise LockLost if the lock's connection is gone (looked at every 30 s at most)."""
        lock = self._lock
        if lock is None:
            return
        now = time.monotonic()
        if now - self._checked < _LOCK_CHECK_SECONDS:
            return
        try:
            advisory.check(lock)
        except tx.DatabaseError as exc:
            raise LockLost() from exc
        self._checked = now
