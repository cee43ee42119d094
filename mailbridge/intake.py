"""The one store-then-acknowledge path that every ingress calls.

A caller may acknowledge (SMTP 250, IMAP move) only after ``accept`` returns: by then the raw
bytes and envelope are committed. Concurrent SMTP sessions share commits (group commit), so
durability with a full fsync costs one flush per batch, not one per message.

Each message is given its priority lane here (reading/lanes.py, issue 18) from its header block,
parsed once with its Message-ID, and two cached sets (the directory's carer addresses, the open
episodes' references) refreshed every ``LaneFacts.ttl`` seconds: no query per message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from mailbridge.clock import Clock, system_clock
from mailbridge.errors import StorageError
from mailbridge.ops.logs import log_context
from mailbridge.reading import lanes
from mailbridge.store import faults, inbound, tx
from mailbridge.store import lanes as lane_store
from mailbridge.store.inbound import Incoming, Stored

log = logging.getLogger(__name__)

_MAX_BATCH = 200


_HEADERS = BytesHeaderParser(policy=compat32)


def _header_block(raw: bytes) -> Message | None:
    """The header block alone, parsed; hostile headers give None, not an error."""
    try:
        head, _, _ = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
        return _HEADERS.parsebytes(head + b"\n\n")
    except Exception:
        return None


def _message_id(headers: Message | None) -> str | None:
    value = headers.get("Message-ID") if headers is not None else None
    if value is None:
        return None
    text = str(value).strip()
    if text.startswith("<") and ">" in text:
        text = text[1 : text.index(">")]
    # No white space, and no control characters: PostgreSQL text cannot hold NUL, and a hostile
    # Message-ID must never make a message unstorable (found by tests/integration/test_fuzz.py).
    text = "".join(ch for ch in text if ch.isprintable() and not ch.isspace())
    return text[:900] or None


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID, read from the header block only; hostile headers give None, not an error."""
    try:
        return _message_id(_header_block(raw))
    except Exception:
        return None


def header_facts(
    headers: Message | None, *, mail_from: str | None, rcpt_tos: Sequence[str]
) -> lanes.HeaderFacts:
    """What the lane is decided from; any header that cannot be read counts as absent."""

    def get(name: str) -> str:
        try:
            value = headers.get(name) if headers is not None else None
            return str(value) if value is not None else ""
        except Exception:
            return ""

    return lanes.HeaderFacts(
        sender=lanes.address_of(get("From")),
        envelope_sender=lanes.address_of(mail_from),
        subject=get("Subject")[:998],
        date=lanes.parse_date(get("Date")),
        in_reply_to=(get("In-Reply-To") + " " + get("References"))[:4000],
        recipients=tuple(r.lower() for r in rcpt_tos),
    )


def fetched_header_facts(head: bytes) -> lanes.HeaderFacts:
    """The lane's facts of a header block fetched alone (the IMAP watcher's
    ``BODY.PEEK[HEADER.FIELDS (...)]``): the same facts ``make_incoming`` gives the whole
    message read from a mailbox, which has no envelope."""
    return header_facts(_header_block(head), mail_from=None, rcpt_tos=())


def make_incoming(
    raw: bytes,
    *,
    source: str,
    mail_from: str | None,
    rcpt_tos: Sequence[str],
    peer: str | None,
    clock: Clock = system_clock,
) -> Incoming:
    headers = _header_block(raw)
    try:
        message_id = _message_id(headers)
    except Exception:
        message_id = None
    return Incoming(
        raw=raw,
        mail_from=mail_from,
        rcpt_tos=list(rcpt_tos),
        source=source,
        peer=peer,
        received_at=clock(),
        message_id=message_id,
        sha256=hashlib.sha256(raw).hexdigest(),
        facts=header_facts(headers, mail_from=mail_from, rcpt_tos=rcpt_tos),
    )


class LaneFacts:
    """The cached look-ups of the lane decision: known carers and live episode references.

    Refreshed at most every ``ttl`` seconds, by the intake writer, inside its own transaction;
    a directory import or a new episode is seen within that time. If the refresh fails, the
    old sets stay (a lane only orders work; it never decides whether work is done).
    """

    def __init__(
        self,
        *,
        ttl: float = 30.0,
        backlog_after: timedelta = timedelta(hours=1),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.backlog_after = backlog_after
        self.monotonic = monotonic
        self.carers: frozenset[str] = frozenset()
        self.live: frozenset[str] = frozenset()
        self._loaded_at: float | None = None

    def refresh(self, t: tx.Tx, *, force: bool = False) -> None:
        now = self.monotonic()
        if not force and self._loaded_at is not None and now - self._loaded_at < self.ttl:
            return
        try:
            with t.begin_nested():
                carers = lane_store.carer_addresses(t)
                live = lane_store.live_references(t)
        except Exception as exc:
            log.warning("lane facts not refreshed: %s; the old ones stay", type(exc).__name__)
            self._loaded_at = now
            return
        self.carers, self.live, self._loaded_at = frozenset(carers), frozenset(live), now

    def lane(self, item: Incoming) -> int:
        if item.facts is None:
            return lanes.NEW
        return self.decide(item.facts, item.received_at)

    def decide(self, facts: lanes.HeaderFacts, received_at: datetime) -> int:
        """The lane of a message with these facts arriving at ``received_at``; intake's rule,
        and the IMAP watcher's when it orders a backlog before fetching it."""
        return lanes.decide(
            facts,
            received_at=received_at,
            backlog_after=self.backlog_after,
            known_senders=self.carers,
            live_references=self.live,
        )


class Intake:
    """Stores messages durably and tells the worker there is work."""

    def __init__(
        self,
        engine: tx.Engine,
        *,
        clock: Clock = system_clock,
        on_stored: Callable[[], None] | None = None,
        lane_facts: LaneFacts | None = None,
        on_priority: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.on_stored = on_stored
        # Told when lane-1 mail was stored: a worker busy with a lower lane claims again.
        self.on_priority = on_priority
        self.lane_facts = lane_facts or LaneFacts()
        # A multiprocessing.Value shared with worker processes (runtime/workers.py): the count
        # of SMTP clients waiting for a commit, so a child on SQLite gives way like a thread.
        self.busy_counter: Any = None
        self._queue: queue.Queue[tuple[Incoming, concurrent.futures.Future[Stored]] | None] = (
            queue.Queue()
        )
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._unacknowledged = 0

    def accept_many(
        self,
        items: Sequence[Incoming],
        *,
        also: Callable[[tx.Tx, list[Stored]], None] | None = None,
    ) -> list[Stored]:
        """Commit all or none; raise StorageError so the caller answers 'try later'.

        ``also`` runs in the same transaction (the IMAP watcher records how far it has stored).
        """
        try:
            with tx.write(self.engine) as t:
                self.lane_facts.refresh(t)
                items = [replace(item, lane=self.lane_facts.lane(item)) for item in items]
                results = inbound.insert_batch(t, items)
                if also is not None:
                    also(t, results)
        except faults.DATABASE_ERRORS as exc:
            raise StorageError(f"could not store message: {type(exc).__name__}") from exc
        for item, result in zip(items, results, strict=True):
            with log_context(message_id=result.id):
                log.info(
                    "received id=%s message_id=%s source=%s size=%d lane=%d status=%s%s",
                    result.id,
                    item.message_id,
                    item.source,
                    len(item.raw),
                    item.lane,
                    result.status,
                    f" duplicate_of={result.duplicate_of}" if result.duplicate_of else "",
                )
        fresh = [item for item, r in zip(items, results, strict=True) if r.duplicate_of is None]
        if self.on_priority is not None and any(item.lane == lanes.PRIORITY for item in fresh):
            self.on_priority()
        if self.on_stored is not None and fresh:
            self.on_stored()
        return results

    def accept(self, item: Incoming) -> Stored:
        return self.accept_many([item])[0]

    async def accept_async(self, item: Incoming) -> Stored:
        """Hand the message to the writer thread; the event loop never blocks on the database."""
        self._ensure_writer()
        future: concurrent.futures.Future[Stored] = concurrent.futures.Future()
        with self._lock:
            self._unacknowledged += 1
            self._share_busy()
        self._queue.put((item, future))
        try:
            return await asyncio.wrap_future(future)
        finally:
            with self._lock:
                self._unacknowledged -= 1
                self._share_busy()

    def _share_busy(self) -> None:
        if self.busy_counter is not None:
            self.busy_counter.value = self._unacknowledged

    def busy(self) -> bool:
        """A sender is waiting for a commit: background writers should give way."""
        return self._unacknowledged > 0

    def _ensure_writer(self) -> None:
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._write_loop, name="intake-writer", daemon=True
                )
                self._writer.start()

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < _MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[Incoming, concurrent.futures.Future[Stored]]]) -> None:
        try:
            results = self.accept_many([item for item, _ in batch])
        except Exception as exc:
            # A StorageError names only the exception type; others' text may quote the mail.
            shown = exc if isinstance(exc, StorageError) else type(exc).__name__
            log.error("intake commit failed for %d message(s): %s", len(batch), shown)
            for _, fut in batch:
                if not fut.done():  # a client that hung up cancelled its wait
                    fut.set_exception(
                        exc if isinstance(exc, StorageError) else StorageError(str(exc))
                    )
            return
        for (_, fut), result in zip(batch, results, strict=True):
            # A cancelled wait (the client hung up) must not kill the writer: the message is
            # committed all the same, and the others in the batch still get their answer.
            if not fut.done():
                fut.set_result(result)

    def close(self) -> None:
        """Finish every queued commit, then stop the writer."""
        with self._lock:
            writer = self._writer
        if writer is not None and writer.is_alive():
            self._queue.put(None)
            writer.join()
