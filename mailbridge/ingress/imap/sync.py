"""Fetch, store, then move: the exactly-once drain of one selected folder (DESIGN invariant 1).

The mailbox is the queue. A message leaves the watched folder only after its raw bytes are
committed:

1. ``UID SEARCH ALL``; every UID above ``last_uid`` (stored with its UIDVALIDITY in
   ``imap_state``) is new.
2. ``UID FETCH … BODY.PEEK[]`` in batches (nothing is marked seen), then ``Intake.accept_many``
   commits the batch, on a committer thread while the next batch is fetched.
3. ``last_uid`` advances in the same transaction, but never past a UID that is not committed.
4. The batch is moved to the processed folder (MOVE, else COPY + \\Deleted + UID EXPUNGE).

A crash before 2 commits leaves the message in the folder: it is fetched again. A crash between
2 and 4 leaves a committed message in the folder: a UID at or below ``last_uid`` is only moved
(the sweep), one above it is fetched again and intake records it as a duplicate. A UIDVALIDITY
change resets ``last_uid`` to 0: a full rescan, with intake's dedupe doing the work.

A message the server will not hand over whole (after ``imap.fetch_attempts``) is set aside: a
failed placeholder is stored, the duty desk is told, and the message moves to the failed folder
(unfetchable.py). A backlog larger than one batch is taken lane 1 first (backlog.py); either way
the batches go through the same fetch, commit and move here.
"""

from __future__ import annotations

import imaplib
import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mailbridge.ingress.imap.backlog import HEADER_FAILURES, Backlog
from mailbridge.ingress.imap.client import describe, ensure_folder, move
from mailbridge.ingress.imap.order import worth_ordering
from mailbridge.ingress.imap.unfetchable import set_aside_unfetchable
from mailbridge.intake import make_incoming
from mailbridge.store import imap_state, tx

if TYPE_CHECKING:
    from mailbridge.ingress.imap.watcher import Watcher

log = logging.getLogger(__name__)

# Committed messages are moved in groups of up to this many UIDs (and at the end of each pass).
_MOVE_GROUP = 500
# A batch stops at this many bytes too (by RFC822.SIZE), so big attachments cannot exhaust memory;
# a single larger message travels alone.
_MAX_BATCH_BYTES = 32 * 1024 * 1024


@dataclass
class Memory:
    """What the watcher knows of the folder's UIDs beyond ``imap_state``, kept across sessions
    for one UIDVALIDITY."""

    uidvalidity: int = 0
    #: committed but not yet moved
    committed: set[int] = field(default_factory=set)
    #: failed fetches by UID, and the last reason
    fetch_failures: dict[int, int] = field(default_factory=dict)
    fetch_errors: dict[int, str] = field(default_factory=dict)
    #: UIDs in a batch whose FETCH cost the connection: fetched one at a time from then on
    suspects: set[int] = field(default_factory=set)
    #: set aside for good (a placeholder is stored)
    set_aside: set[int] = field(default_factory=set)
    #: header fetches for the lane order that cost the connection; at HEADER_FAILURES, UID
    #: order until the folder is drained (a message that breaks them must not stop the drain)
    header_failures: int = 0

    def begin(self, uidvalidity: int) -> None:
        """A session selected the folder: forget everything if UIDVALIDITY changed."""
        if uidvalidity == self.uidvalidity:
            return
        self.uidvalidity = uidvalidity
        self.committed.clear()
        self.fetch_failures.clear()
        self.fetch_errors.clear()
        self.suspects.clear()
        self.set_aside.clear()
        self.header_failures = 0


@dataclass
class Pending:
    """A batch handed to the committer: its future, its UIDs, the last_uid it records."""

    future: Future[None]
    uids: list[int]
    new_last: int


class Sync:
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
        # Stored and moved in this pass: gone from the folder, though the pass's search saw them.
        self._moved: set[int] = set()
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-commit")

    def close(self) -> None:
        self._committer.shutdown(wait=True)

    def _search(self) -> list[int]:
        return sorted(int(u) for u in self.client.search(["ALL"]))

    def sweep(self) -> None:
        """Move what is committed but still here (a crash or a failed move came between)."""
        present = self._search()
        memory = self.w.memory
        leftover = [
            u
            for u in present
            if (u <= self.last_uid or u in memory.committed) and u not in memory.set_aside
        ]
        if leftover:
            log.info(
                "moving %d already stored message(s) out of %s",
                len(leftover),
                self.w.mailbox.key,
            )
            self._move_committed(leftover)
        aside = [u for u in present if u in memory.set_aside]
        if aside and self.settings.failed_folder:
            refused = self.move_to(aside, self.settings.failed_folder)
            if refused:
                log.warning(
                    "could not move %d unfetchable message(s) to %r: %s",
                    len(aside),
                    self.settings.failed_folder,
                    refused,
                )

    def drain(self) -> None:
        """Store and move every new message, batch by batch, until a search finds none.

        More new UIDs than one batch: their header facts first, then lane 1 first (backlog.py),
        with a look for newer mail before each batch. Otherwise, or when the server will not
        give the headers, in UID order as before.
        """
        w = self.w
        while not w.stopping():
            present = self._search()
            here = set(present)
            for uid in set(w.memory.fetch_failures) - here:  # expunged by someone else meanwhile
                w.memory.fetch_failures.pop(uid, None)
                w.memory.fetch_errors.pop(uid, None)
            w.memory.suspects &= here
            self._moved.clear()  # this pass's search no longer holds what earlier passes moved
            todo = [
                u
                for u in present
                if u > self.last_uid and u not in w.memory.committed and u not in w.memory.set_aside
            ]
            if not todo:
                w.memory.header_failures = 0  # the next backlog may try the headers again
                return
            backlog: Backlog | None = None
            if worth_ordering(len(todo), self.settings.batch_size) and (
                w.memory.header_failures < HEADER_FAILURES
            ):
                backlog = Backlog(w, self.client, present, self._chunks)
                if not backlog.queue_by_lane(todo):
                    backlog = None
            if backlog is None:
                batches = self._chunks(todo, self._sizes(todo))
            else:
                batches = backlog.batches()
            retry_later = self._store(batches, present, backlog)
            if w.stopping():
                return
            if retry_later:
                worst = max(w.memory.fetch_failures.values(), default=1)
                w.wait(
                    min(self.settings.max_backoff_seconds, self.settings.backoff_seconds * worst)
                )

    def _store(
        self, batches: Iterator[list[int]], present: list[int], backlog: Backlog | None = None
    ) -> bool:
        """Fetch, commit and move the batches; True if some fetch is to be retried later.

        With ``backlog``, lane-1 mail that arrived while a batch was fetched is fetched and
        committed before that batch is handed to the committer: it waits for one commit at most.
        """
        w = self.w
        retry_later = False
        # Pipelined: batch k commits on the committer thread while batch k+1 is fetched.
        # Batches still commit one at a time, in the order given.
        pending: Pending | None = None
        try:
            for chunk in batches:
                if w.stopping():
                    break
                fetched = self._fetch_batch(chunk)
                if fetched is None:
                    continue
                good, bad = fetched
                if pending is not None:
                    self._finish(pending)
                    pending = None
                if backlog is not None:
                    for urgent in backlog.urgent_batches():
                        ahead = self._fetch_batch(urgent)
                        if ahead is None:
                            continue
                        if ahead[0]:
                            self._finish(self._submit(ahead[0], present))
                        retry_later |= self._handle_bad(ahead[1])
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
        return retry_later

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
            if uid in self.w.memory.suspects:
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
                w.memory.suspects.add(uid)
                w.memory.fetch_failures[uid] = w.memory.fetch_failures.get(uid, 0) + 1
                w.memory.fetch_errors[uid] = f"the server hung up on fetching it ({describe(exc)})"
                log.warning(
                    "IMAP message UID %d in %s: fetching it ended the connection (attempt %d "
                    "of %d)",
                    uid,
                    w.mailbox.key,
                    w.memory.fetch_failures[uid],
                    self.settings.fetch_attempts,
                )
            else:
                w.memory.suspects.update(uids)
            raise
        except imaplib.IMAP4.error as exc:
            if len(uids) == 1:
                w.memory.fetch_errors[uids[0]] = describe(exc)
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
                w.memory.fetch_errors[uid] = "the server returned no message body"
        return bodies

    def _fetch_batch(self, chunk: list[int]) -> tuple[list[tuple[int, bytes]], list[int]] | None:
        """(good, bad) bodies of a batch; None when the batch was settled without a fetch."""
        failures = self.w.memory.fetch_failures
        if len(chunk) == 1 and failures.get(chunk[0], 0) >= self.settings.fetch_attempts:
            # Its fetches cost the connection each time: set it aside without another try.
            uid = chunk[0]
            set_aside_unfetchable(self, uid, self._error(uid), probe=False)
            return None
        bodies = self._fetch(chunk)
        good = [(uid, body) for uid, body in bodies.items() if body is not None]
        bad = [uid for uid, body in bodies.items() if body is None]
        return good, bad

    def _submit(self, good: list[tuple[int, bytes]], present: list[int]) -> Pending:
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
                    peer=w.mailbox.peer(uidvalidity, uid),
                    clock=lambda: now,
                )
                for uid, body in good
            ]

            def record(t: tx.Tx, _results: object) -> None:
                if new_last > old_last:
                    imap_state.advance_state(t, key, uidvalidity, new_last, now)

            # It commits, or raises: then nothing moves and nothing is forgotten.
            w.intake.accept_many(items, also=record)

        return Pending(self._committer.submit(commit), uids, new_last)

    def _finish(self, pending: Pending) -> None:
        """Wait for a batch's commit; only then is it moved and last_uid advanced here."""
        w = self.w
        pending.future.result()
        self.last_uid = max(self.last_uid, pending.new_last)
        w.stored += len(pending.uids)
        for uid in pending.uids:
            w.memory.committed.add(uid)
            w.memory.fetch_failures.pop(uid, None)
            w.memory.fetch_errors.pop(uid, None)
            w.memory.suspects.discard(uid)
        self._to_move.extend(pending.uids)
        w.healthy()

    def _handle_bad(self, bad: list[int]) -> bool:
        """Count a failed fetch per UID; set aside those out of attempts. True: retry some."""
        w = self.w
        retry = False
        for uid in bad:
            count = w.memory.fetch_failures.get(uid, 0) + 1
            w.memory.fetch_failures[uid] = count
            if count >= self.settings.fetch_attempts:
                set_aside_unfetchable(self, uid, self._error(uid))
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
        return self.w.memory.fetch_errors.get(uid, "the server returned no message body")

    def _last_after(self, present: list[int], committing: set[int]) -> int:
        """The new last_uid: the highest UID below which everything still here is committed."""
        new_last = self.last_uid
        for uid in present:
            if uid <= self.last_uid:
                continue
            if (
                uid not in self.w.memory.committed
                and uid not in committing
                and uid not in self._moved
            ):
                break
            new_last = uid
        return new_last

    def _move_committed(self, uids: list[int]) -> None:
        refused = self.move_to(uids, self.settings.processed_folder)
        if refused:
            # Stored already; the sweep tries again later. Never fetched twice in this session.
            log.warning(
                "could not move %d stored message(s) from %s to %r: %s; will retry",
                len(uids),
                self.w.mailbox.key,
                self.settings.processed_folder,
                refused,
            )
            return
        self.w.memory.committed.difference_update(uids)
        self._moved.update(uids)

    def move_to(self, uids: list[int], folder: str, *, create: bool = False) -> str | None:
        """Move ``uids`` to ``folder`` (``create``: make it first if absent); the server's
        refusal, described, or None when moved. A dropped connection still raises."""
        try:
            if create:
                ensure_folder(self.client, folder)
            move(self.client, uids, folder, self.caps)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            return describe(exc)
        return None
