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
failed placeholder is stored, the duty desk is told, and the message moves to the failed folder.
"""

from __future__ import annotations

import hashlib
import imaplib
import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailbridge.ingress.imap.client import (
    Mailbox,
    describe,
    ensure_folder,
    fetch_set,
    move,
    uid_set,
)
from mailbridge.ingress.imap.order import LaneQueue, worth_ordering
from mailbridge.ingress.set_aside import Placeholder, SetAside, placeholder_bytes, set_aside
from mailbridge.intake import fetched_header_facts, make_incoming
from mailbridge.reading import lanes
from mailbridge.store import imap_state, tx

if TYPE_CHECKING:
    from mailbridge.ingress.imap.watcher import Watcher

log = logging.getLogger(__name__)

# Committed messages are moved in groups of up to this many UIDs (and at the end of each pass).
_MOVE_GROUP = 500
# A batch stops at this many bytes too (by RFC822.SIZE), so big attachments cannot exhaust memory;
# a single larger message travels alone.
_MAX_BATCH_BYTES = 32 * 1024 * 1024
# The cheap header facts a lane is decided from (intake reads the same ones: intake.py), asked
# for this many UIDs per command when a backlog is ordered by lane (order.py).
_HEADER_ITEM = b"BODY.PEEK[HEADER.FIELDS (FROM DATE MESSAGE-ID IN-REPLY-TO REFERENCES SUBJECT)]"
_HEADER_GROUP = 5000
_HEADER_FAILURES = 2
# While a backlog is fetched by lane, lanes 2 and 3 go in batches of at most this many: lane-1
# mail found mid-drain waits for the commit in progress, and on SQLite so do the worker and the
# sender (that commit holds the write lock), so a shorter commit is a shorter wait for both.
_LOWER_LANE_BATCH = 50


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
    #: header fetches for the lane order that cost the connection; at _HEADER_FAILURES, UID
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
    lines = (
        "The mail server would not deliver this message whole, so mailbridge could not read it.",
        "A person must open the mailbox and read it there.",
        "",
        f"Account:     {mailbox.account}",
        f"Folder:      {mailbox.folder}",
        f"UID:         {uid} (UIDVALIDITY {uidvalidity})",
        f"Error:       {error}",
    )
    return placeholder_bytes(
        Placeholder("mailbridge IMAP watcher",
                    f"IMAP message could not be fetched (UID {uid} in {mailbox.folder})",
                    f"<imap-unfetchable.{uidvalidity}.{uid}.{tag}@mailbridge.invalid>", lines),
        facts=facts, now=now)


@dataclass
class Lanes:
    """One pass's lane order: the queue, the sizes, the pass's UIDs and the highest seen."""

    queue: LaneQueue
    sizes: dict[int, int]
    present: list[int]  # the pass's search, and the newer UIDs found since (ascending)
    seen: int


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
            refused = self._move(aside, self.settings.failed_folder)
            if refused:
                log.warning(
                    "could not move %d unfetchable message(s) to %r: %s",
                    len(aside),
                    self.settings.failed_folder,
                    refused,
                )

    def drain(self) -> None:
        """Store and move every new message, batch by batch, until a search finds none.

        More new UIDs than one batch: their header facts first, then lane 1 first (order.py),
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
            queue: LaneQueue | None = None
            sizes: dict[int, int] = {}
            if worth_ordering(len(todo), self.settings.batch_size) and (
                w.memory.header_failures < _HEADER_FAILURES
            ):
                queue = LaneQueue()
                if not self._queue_by_lane(queue, todo, sizes):
                    queue = None
            lanes_: Lanes | None = None
            if queue is None:
                sizes = self._sizes(todo)
                batches = self._chunks(todo, sizes)
            else:
                lanes_ = Lanes(queue, sizes, present, max(present))
                batches = self._lane_batches(lanes_)
            retry_later = self._store(batches, present, lanes_)
            if w.stopping():
                return
            if retry_later:
                worst = max(w.memory.fetch_failures.values(), default=1)
                w.wait(
                    min(self.settings.max_backoff_seconds, self.settings.backoff_seconds * worst)
                )

    def _store(
        self, batches: Iterator[list[int]], present: list[int], lanes_: Lanes | None = None
    ) -> bool:
        """Fetch, commit and move the batches; True if some fetch is to be retried later.

        With ``lanes_``, lane-1 mail that arrived while a batch was fetched is fetched and
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
                if lanes_ is not None:
                    for urgent in self._urgent_batches(lanes_):
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

    # -- lane order (issue 18) -------------------------------------------------------------
    def _queue_by_lane(self, queue: LaneQueue, uids: list[int], sizes: dict[int, int]) -> bool:
        """Queue ``uids`` by lane from their header facts (and note their sizes); False when the
        server refused the header fetch (then the caller keeps UID order)."""
        w = self.w
        suspects = [u for u in uids if u in w.memory.suspects]
        asked = [u for u in uids if u not in w.memory.suspects]
        heads: dict[int, tuple[bytes | None, int]] = {}
        try:
            for start in range(0, len(asked), _HEADER_GROUP):
                heads.update(self._headers(uid_set(asked[start : start + _HEADER_GROUP])))
        except (imaplib.IMAP4.abort, OSError, EOFError):
            # Never loop on a header fetch that costs the connection: UID order after a few.
            w.memory.header_failures += 1
            raise
        except imaplib.IMAP4.error as exc:
            log.info(
                "IMAP folder %s: no header facts (%s); fetching in UID order",
                w.mailbox.key,
                describe(exc),
            )
            return False
        lane_of = self._lanes({u: heads[u][0] for u in asked if u in heads})
        lane_of.update({u: lanes.NEW for u in uids if u not in lane_of})  # unread: lane 2
        sizes.update({u: size for u, (_, size) in heads.items() if u in lane_of})
        queue.add({u: lane_of[u] for u in uids})
        if suspects:
            log.debug("%d suspect UID(s) queued in lane 2 without headers", len(suspects))
        log.info(
            "IMAP folder %s: %d new message(s), fetching lane 1 first (lanes 1/2/3: %s)",
            w.mailbox.key,
            len(uids),
            "/".join(str(n) for n in queue.waiting().values()),
        )
        return True

    def _headers(self, which: str) -> dict[int, tuple[bytes | None, int]]:
        """(header facts block, RFC822.SIZE) by UID, in one UID FETCH of the set ``which``."""
        data = fetch_set(self.client, which, [b"RFC822.SIZE", _HEADER_ITEM])
        found: dict[int, tuple[bytes | None, int]] = {}
        for uid, values in data.items():
            if b"RFC822.SIZE" not in values:
                continue  # an unsolicited FETCH (a flag change), not an answer
            head: bytes | None = None
            for key, value in values.items():
                if bytes(key).upper().startswith(b"BODY[HEADER.FIELDS") and isinstance(
                    value, bytes | bytearray
                ):
                    head = bytes(value)
            found[int(uid)] = (head, int(values.get(b"RFC822.SIZE") or 0))
        return found

    def _lanes(self, heads: dict[int, bytes | None]) -> dict[int, int]:
        """Each UID's lane, decided as intake will decide it (the same facts and cached sets)."""
        facts = self.w.intake.lane_facts
        try:
            with tx.read(self.w.engine) as t:
                facts.refresh(t)
        except tx.DatabaseError as exc:  # a lane only orders the work: the old sets will do
            log.debug("lane facts not refreshed: %s", type(exc).__name__)
        now = self.w.clock()
        return {
            uid: facts.decide(fetched_header_facts(head), now) if head is not None else lanes.NEW
            for uid, head in heads.items()
        }

    def _lane_batches(self, state: Lanes) -> Iterator[list[int]]:
        """Batches from the queue, highest lane first; before each, newer mail is looked for
        and queued by its lane, so a report APPENDed mid-drain goes ahead of the backlog."""
        while True:
            self._queue_newer(state)
            lane = state.queue.next_lane()
            if lane is None:
                return
            yield from self._take(state, lane)

    def _urgent_batches(self, state: Lanes) -> Iterator[list[int]]:
        """The lane-1 mail waiting now, newer mail looked for first."""
        self._queue_newer(state)
        while state.queue.waiting()[lanes.PRIORITY]:
            yield from self._take(state, lanes.PRIORITY)

    def _take(self, state: Lanes, lane: int) -> Iterator[list[int]]:
        """The lane's next batch; below lane 1, at most _LOWER_LANE_BATCH messages."""
        limit = self.settings.batch_size
        if lane != lanes.PRIORITY:
            limit = min(limit, _LOWER_LANE_BATCH)
        taken = state.queue.take(lane, limit)
        if lane == lanes.PRIORITY:
            log.info(
                "IMAP folder %s: fetching %d lane-1 message(s)", self.w.mailbox.key, len(taken)
            )
        yield from self._chunks(taken, state.sizes)

    def _queue_newer(self, state: Lanes) -> None:
        """Queue, by lane, the mail that arrived above the highest UID seen.

        Two round trips: NOOP, so the server shows this session what other sessions APPENDed
        (Dovecot does so only between commands: without it a message is seen a batch late),
        then ``UID FETCH seen+1:*`` with the header facts (the server answers for the highest
        UID even when it is below ``seen + 1``: filtered out).
        """
        if self.w.stopping():
            return
        seen = state.seen
        try:
            self.client.noop()
            heads = self._headers(f"{seen + 1}:*")
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error:
            return
        memory = self.w.memory
        fresh = {
            u: h
            for u, (h, _) in heads.items()
            if u > seen and u not in memory.committed and u not in memory.set_aside
        }
        if not fresh:
            return
        state.queue.add(self._lanes(fresh))
        state.sizes.update({u: heads[u][1] for u in fresh})
        state.present.extend(sorted(fresh))  # still ascending: all above the old highest
        state.seen = max(fresh)

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
            self.set_aside(uid, self._error(uid), probe=False)
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
                self.set_aside(uid, self._error(uid))
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
        refused = self._move(uids, self.settings.processed_folder)
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

    def _move(self, uids: list[int], folder: str, *, create: bool = False) -> str | None:
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

    # -- setting aside a message the server will not deliver -----------------------------
    def set_aside(self, uid: int, error: str, *, probe: bool = True) -> None:
        """Store a failed placeholder (the duty desk is alerted), then move the message aside.

        ``probe``: ask for the envelope for the placeholder; not when fetching the message
        cost the connection (the envelope may well do the same).
        """
        w, client = self.w, self.client
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
            log.debug("no envelope for UID %d: %s", uid, describe(exc))
        now = w.clock()
        raw = placeholder_message(
            w.mailbox, self.uidvalidity, uid, error=error, facts=facts, now=now
        )

        def move() -> str:
            if not self.settings.failed_folder:
                return "left in the folder"
            refused = self._move([uid], self.settings.failed_folder, create=True)
            if refused:
                return f"left in the folder (moving it failed: {refused})"
            return f"moved to {self.settings.failed_folder!r}"

        item = SetAside("imap", f"IMAP message UID {uid}", w.mailbox.key,
                        f"after {self.settings.fetch_attempts} attempt(s)",
                        w.mailbox.peer(self.uidvalidity, uid), error)
        set_aside(w.engine, item, raw, now=now, gave_up=w.gave_up, move=move,
                  on_alert=w.on_alert, log=log)
        w.memory.set_aside.add(uid)
        w.memory.suspects.discard(uid)
