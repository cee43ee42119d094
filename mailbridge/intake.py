"""The one store-then-acknowledge path that every ingress calls.

A caller may acknowledge (SMTP 250, IMAP move) only after ``accept`` returns: by then the raw
bytes and envelope are committed. Concurrent SMTP sessions share commits (group commit), so
durability with a full fsync costs one flush per batch, not one per message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mailbridge.clock import Clock, system_clock
from mailbridge.errors import StorageError
from mailbridge.ops.logs import log_context
from mailbridge.store import inbound
from mailbridge.store.inbound import Incoming, Stored

log = logging.getLogger(__name__)

_MAX_BATCH = 200


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID, read from the header block only; hostile headers give None, not an error."""
    try:
        head, _, _ = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
        headers = BytesHeaderParser(policy=compat32).parsebytes(head + b"\n\n")
        value = headers.get("Message-ID")
    except Exception:
        return None
    if value is None:
        return None
    text = str(value).strip()
    if text.startswith("<") and ">" in text:
        text = text[1 : text.index(">")]
    # No white space, and no control characters: PostgreSQL text cannot hold NUL, and a hostile
    # Message-ID must never make a message unstorable (found by tests/test_fuzz.py).
    text = "".join(ch for ch in text if ch.isprintable() and not ch.isspace())
    return text[:900] or None


def make_incoming(
    raw: bytes,
    *,
    source: str,
    mail_from: str | None,
    rcpt_tos: Sequence[str],
    peer: str | None,
    clock: Clock = system_clock,
) -> Incoming:
    return Incoming(
        raw=raw,
        mail_from=mail_from,
        rcpt_tos=list(rcpt_tos),
        source=source,
        peer=peer,
        received_at=clock(),
        message_id=header_message_id(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


class Intake:
    """Stores messages durably and tells the worker there is work."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = system_clock,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.on_stored = on_stored
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
        also: Callable[[Session, list[Stored]], None] | None = None,
    ) -> list[Stored]:
        """Commit all or none; raise StorageError so the caller answers 'try later'.

        ``also`` runs in the same transaction (the IMAP watcher records how far it has stored).
        """
        try:
            with Session(self.engine) as session, session.begin():
                results = inbound.insert_batch(session, items)
                if also is not None:
                    also(session, results)
        except SQLAlchemyError as exc:
            raise StorageError(f"could not store message: {type(exc).__name__}") from exc
        for item, result in zip(items, results, strict=True):
            with log_context(message_id=result.id):
                log.info(
                    "received id=%s message_id=%s source=%s size=%d status=%s%s",
                    result.id,
                    item.message_id,
                    item.source,
                    len(item.raw),
                    result.status,
                    f" duplicate_of={result.duplicate_of}" if result.duplicate_of else "",
                )
        if self.on_stored is not None and any(r.duplicate_of is None for r in results):
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
        self._queue.put((item, future))
        try:
            return await asyncio.wrap_future(future)
        finally:
            with self._lock:
                self._unacknowledged -= 1

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
