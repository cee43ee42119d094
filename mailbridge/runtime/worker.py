"""Claims pending messages and drives each to exactly one terminal state.

One transaction per message: if the process dies mid-way, nothing of the half-done work
is kept and the lease lets the message be claimed again. A message that keeps failing is
marked failed after ``max_attempts`` and never retried forever.

Claims follow the priority lanes (reading/lanes.py, issue 18): lane 1 first, then 2, then 3,
oldest first in each; every ``SHARE_EVERY``-th claim takes the oldest of any lane instead, so a
flood in a higher lane never starves a lower one. A hint that lane-1 mail has just arrived
(``priority_waiting``) makes the worker hand back the rest of a lower-lane batch and claim again.
The alerts of a message inherit its lane (store/outbox.py), so the sender follows the same order.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from mailbridge.clock import Clock, system_clock
from mailbridge.ops.logs import log_context
from mailbridge.runtime.loop import BackgroundLoop
from mailbridge.runtime.pipeline import Pipeline
from mailbridge.settings.sections import ProcessingSettings
from mailbridge.store import faults, inbound, outbox, tx
from mailbridge.store.models import FAILED, InboundMessage

#: every this many claims, one takes the oldest pending messages of any lane (no starvation)
SHARE_EVERY = 4

log = logging.getLogger(__name__)


def take_hint(flag: threading.Event | Any) -> Callable[[], bool]:
    """A ``priority_waiting`` over an Event (threading or multiprocessing): read and reset."""

    def waiting() -> bool:
        if flag.is_set():
            flag.clear()
            return True
        return False

    return waiting


class Worker(BackgroundLoop):
    thread_name = "worker"

    def __init__(
        self,
        engine: tx.Engine,
        pipeline: Pipeline,
        settings: ProcessingSettings,
        *,
        clock: Clock = system_clock,
        on_committed: Callable[[], None] | None = None,
        yield_to: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.pipeline = pipeline
        self.settings = settings
        self.clock = clock
        # Told after each message's transaction commits: the sender sends its alerts at once.
        self.on_committed = on_committed
        # On SQLite a write transaction locks the whole database; while a carer's SMTP client
        # waits for its 250, the worker lets the intake writer go first (for a bounded time).
        self.yield_to = yield_to
        # Told (received_at, finished_at, status) after a message reaches a terminal state and
        # commits: the processing-latency histogram of /metrics.
        self.on_finished: Callable[[datetime, datetime, str], None] | None = None
        # True (and reset) when lane-1 mail arrived since the last call: the rest of a
        # lower-lane batch is handed back and the claim made again (intake sets it).
        self.priority_waiting: Callable[[], bool] | None = None
        self._claims = 0
        # Claim in lane order (serve). A command that processes what it just stored (inject,
        # reprocess) turns this off: its batch is processed in arrival order, so a carer's
        # return is never read before the missing report stored ahead of it.
        self.lanes = True
        # Set while a worker process does the work (runtime/workers.py): this thread stands by,
        # and hands back what it claimed but has not started.
        self.paused = threading.Event()

    # -- the loop (runtime/loop.py) ---------------------------------------------------
    def run_pass(self) -> float:
        if self.paused.is_set():
            return self.settings.poll_seconds
        worked = self.run_once(stop=self.stopping)
        return self.settings.poll_seconds if worked == 0 else 0.0

    def pass_failed(self, exc: Exception) -> float:
        if isinstance(exc, faults.DATABASE_ERRORS):
            log.error("worker cannot reach the database: %s; retrying", type(exc).__name__)
        else:
            # Never let one bad pass end the thread that drives every report.
            log.exception("worker pass failed: %s", type(exc).__name__)
        return self.settings.poll_seconds

    # -- one pass -------------------------------------------------------------------
    def run_once(self, stop: threading.Event | None = None) -> int:
        """Process everything claimable now; return how many messages were handled."""
        handled = 0
        while (stop is None or not stop.is_set()) and not self.paused.is_set():
            self._give_way()
            claimed = self._claim()
            if not claimed:
                break
            for index, (message_id, _lane) in enumerate(claimed):
                if (stop is not None and stop.is_set()) or self.paused.is_set():
                    self._release([i for i, _ in claimed[index:]])
                    return handled
                if index and self._priority_arrived() and claimed[index][1] > 1:
                    # Lane-1 mail is waiting: hand back the rest and claim in lane order again.
                    self._release([i for i, _ in claimed[index:]])
                    break
                self.process_one(message_id)
                handled += 1
                if self.on_committed is not None:
                    self.on_committed()
        return handled

    def _claim(self) -> list[tuple[int, int]]:
        """The next batch: lane order, except every SHARE_EVERY-th claim (oldest of any lane)."""
        self._claims += 1
        by_lane = self.lanes and self._claims % SHARE_EVERY != 0
        if self.priority_waiting is not None:
            self.priority_waiting()  # this claim sees what arrived: the hint is spent
        with tx.write(self.engine) as t:
            return inbound.claim_with_lanes(
                t,
                now=self.clock(),
                lease=timedelta(seconds=self.settings.lease_seconds),
                limit=self.settings.batch_size,
                by_lane=by_lane,
            )

    def _priority_arrived(self) -> bool:
        return self.priority_waiting is not None and self.priority_waiting()

    def _give_way(self, limit: float = 0.5) -> None:
        if self.yield_to is None:
            return
        deadline = time.monotonic() + limit
        while self.yield_to() and time.monotonic() < deadline:
            time.sleep(0.002)

    def _release(self, ids: list[int]) -> None:
        """Give back what a stopping worker claimed but never started."""
        with tx.write(self.engine) as t:
            inbound.release(t, ids)

    def process_one(self, message_id: int) -> str | None:
        """Run the pipeline for one claimed message; return its status afterwards."""
        with log_context(message_id=message_id):
            return self._process_one(message_id)

    def _finished(self, received_at: datetime, finished_at: datetime, status: str) -> None:
        if self.on_finished is not None:
            try:
                self.on_finished(received_at, finished_at, status)
            except Exception as exc:  # a metric must never cost a message
                log.warning("could not record processing time: %s", type(exc).__name__)

    def _process_one(self, message_id: int) -> str | None:
        try:
            self._give_way()
            with tx.write(self.engine) as session:
                row = inbound.lock_for_processing(session, message_id, with_raw=True)
                if row is None:
                    return None  # done elsewhere (a claim after a lease ran out)
                raw, received_at = row.raw or b"", row.received_at
                gave_up_at: datetime | None = None
                if row.attempts > self.settings.max_attempts:
                    error = (
                        f"gave up after {row.attempts - 1} attempts: processing never finished "
                        "(the process stopped or crashed while handling this message)"
                    )
                    gave_up_at = self.clock()
                    inbound.finish(session, row, status=FAILED, now=gave_up_at, error=error)
                    self._gave_up(session, row, error)
                    log.warning("failed id=%s message_id=%s status=failed", row.id, row.message_id)
            if gave_up_at is not None:
                self._finished(received_at, gave_up_at, FAILED)
                return FAILED
            # The pure stages run with no transaction open: on SQLite a write transaction is
            # the database-wide lock, and intake must not wait behind MIME parsing.
            prepared = self.pipeline.prepare(raw, received_at)
            self._give_way()
            with tx.write(self.engine) as session:
                row = inbound.lock_for_processing(session, message_id)
                if row is None:
                    return None
                outbox.write_lane(session, inbound_id=row.id, lane=row.lane)
                outcome = self.pipeline.process(session, row, prepared)
                outbox.inherit_lane(session, inbound_id=row.id, lane=row.lane)
                now = self.clock()
                inbound.finish(session, row, status=outcome.status, now=now, reason=outcome.reason)
                log.info(
                    "processed id=%s message_id=%s status=%s",
                    row.id,
                    row.message_id,
                    outcome.status,
                )
            self._finished(received_at, now, outcome.status)
            return outcome.status
        except faults.UNREACHABLE:
            raise  # the database itself is unreachable: leave the lease to expire and retry
        except Exception as exc:
            return self._record_error(message_id, exc)

    def _gave_up(self, session: tx.Tx, row: InboundMessage, error: str) -> None:
        """Tell a person; if even that fails, the row is still failed and the log says so."""
        try:
            with session.begin_nested():
                self.pipeline.gave_up(session, row, error)
                outbox.inherit_lane(session, inbound_id=row.id, lane=row.lane)
        except Exception as exc:
            log.error(
                "could not raise the alert for failed message id=%s: %s", row.id, type(exc).__name__
            )

    def _record_error(self, message_id: int, exc: Exception) -> str | None:
        # The stored error may quote the message; the log line names only the exception type.
        error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
        now = self.clock()
        outcome: str | None = None
        with tx.write(self.engine) as session:
            row = inbound.message(session, message_id)
            if row is None:
                return None
            received_at = row.received_at
            if row.attempts >= self.settings.max_attempts:
                failed = inbound.record_failure(
                    session, message_id, error=error, now=now, retry_at=None
                )
                if failed is not None:
                    self._gave_up(session, failed, error)
                log.warning(
                    "failed id=%s message_id=%s status=failed attempts=%s error=%s",
                    message_id,
                    row.message_id,
                    row.attempts,
                    type(exc).__name__,
                )
                outcome = FAILED
            else:
                delay = self.settings.retry_delay_seconds * (2 ** max(row.attempts - 1, 0))
                inbound.record_failure(
                    session,
                    message_id,
                    error=error,
                    now=now,
                    retry_at=now + timedelta(seconds=delay),
                )
                log.warning(
                    "retry id=%s message_id=%s attempts=%s in=%ss error=%s",
                    message_id,
                    row.message_id,
                    row.attempts,
                    delay,
                    type(exc).__name__,
                )
        if outcome == FAILED:
            self._finished(received_at, now, FAILED)  # after the commit, as for the others
        return outcome
