"""Retries, the poison-message bound and terminal states, with an injected clock."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailbridge.intake import Intake, make_incoming
from mailbridge.runtime.pipeline import Outcome
from mailbridge.runtime.worker import Worker
from mailbridge.settings.sections import ProcessingSettings
from mailbridge.store import inbound
from mailbridge.store.models import FAILED, PENDING, PROCESSED, InboundMessage
from tests.support.env import sample_report

SETTINGS = ProcessingSettings(
    max_attempts=3, lease_seconds=60, retry_delay_seconds=10, batch_size=5, poll_seconds=0.1
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Pipeline:
    """Fails for message bodies containing POISON; records what it saw and what it gave up on."""

    def __init__(self, fail_times: int = 0) -> None:
        self.fail_times = fail_times
        self.seen: list[int] = []
        self.given_up: list[tuple[int, str]] = []

    def prepare(self, raw, received_at):
        if b"POISON" in raw:
            raise ValueError("reader crashed")
        return raw

    def process(self, session, message, prepared):
        self.seen.append(message.id)
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("transient")
        return Outcome(PROCESSED, "ok")

    def gave_up(self, session, message, error):
        self.given_up.append((message.id, error))


def put(engine, clock, *raws: bytes) -> list[int]:
    intake = Intake(engine, clock=clock)
    return [
        intake.accept(
            make_incoming(r, source="inject", mail_from=None, rcpt_tos=[], peer=None, clock=clock)
        ).id
        for r in raws
    ]


def row(engine, mid: int) -> InboundMessage:
    with Session(engine) as s:
        return s.scalars(select(InboundMessage).where(InboundMessage.id == mid)).one()


def test_processes_pending_to_terminal(engine):
    clock = Clock()
    ids = put(engine, clock, *(sample_report(n) for n in range(12)))
    worker = Worker(engine, Pipeline(), SETTINGS, clock=clock)
    assert worker.run_once() == 12
    assert all(row(engine, i).status == PROCESSED for i in ids)
    assert worker.run_once() == 0


def test_poison_message_is_failed_after_the_bound_and_others_flow(engine):
    clock = Clock()
    poison, good = put(engine, clock, sample_report(1, body="POISON"), sample_report(2))
    pipeline = Pipeline()
    worker = Worker(engine, pipeline, SETTINGS, clock=clock)
    worker.run_once()
    assert row(engine, good).status == PROCESSED
    for _ in range(5):
        r = row(engine, poison)
        if r.status != PENDING:
            break
        assert r.error and "reader crashed" in r.error
        clock.advance(3600)
        worker.run_once()
    r = row(engine, poison)
    assert r.status == FAILED
    assert r.attempts == SETTINGS.max_attempts
    assert "ValueError: reader crashed" in (r.error or "")
    assert pipeline.seen.count(poison) == 0  # the reader failed before any database work
    assert pipeline.given_up == [(poison, r.error)]


def test_retry_waits_with_backoff(engine):
    clock = Clock()
    (mid,) = put(engine, clock, sample_report(1))
    worker = Worker(engine, Pipeline(fail_times=1), SETTINGS, clock=clock)
    worker.run_once()
    assert row(engine, mid).status == PENDING
    clock.advance(5)
    assert worker.run_once() == 0  # not due yet
    clock.advance(6)
    assert worker.run_once() == 1
    assert row(engine, mid).status == PROCESSED


def test_a_message_that_kills_the_process_still_reaches_the_bound(engine):
    clock = Clock()
    (mid,) = put(engine, clock, sample_report(1))
    worker = Worker(engine, Pipeline(), SETTINGS, clock=clock)

    for _ in range(SETTINGS.max_attempts):  # claim, then "die" before processing
        with Session(engine) as s, s.begin():
            assert inbound.claim(s, now=clock(), lease=timedelta(seconds=60), limit=5) == [mid]
        clock.advance(61)
    assert worker.run_once() == 1
    r = row(engine, mid)
    assert r.status == FAILED and "gave up" in (r.error or "")


def test_database_error_leaves_the_message_pending(engine):
    clock = Clock()
    (mid,) = put(engine, clock, sample_report(1))

    class DbDown(Pipeline):
        def process(self, session, message, prepared):
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    worker = Worker(engine, DbDown(), SETTINGS, clock=clock)
    with contextlib.suppress(OperationalError):
        worker.run_once()
    assert row(engine, mid).status == PENDING
    clock.advance(61)
    assert Worker(engine, Pipeline(), SETTINGS, clock=clock).run_once() == 1
    assert row(engine, mid).status == PROCESSED


def test_stopping_releases_unstarted_claims(engine):
    import threading

    clock = Clock()
    ids = put(engine, clock, *(sample_report(n) for n in range(3)))
    stop = threading.Event()

    class StopAfterFirst(Pipeline):
        def process(self, session, message, prepared):
            stop.set()
            return super().process(session, message, prepared)

    Worker(engine, StopAfterFirst(), SETTINGS, clock=clock).run_once(stop=stop)
    assert [row(engine, i).status for i in ids] == [PROCESSED, PENDING, PENDING]
    assert all(row(engine, i).attempts == 0 and row(engine, i).lease_until is None for i in ids[1:])


def test_intake_is_not_blocked_while_a_message_is_read(engine):
    """Reading runs outside any transaction, so SQLite's write lock stays free for intake."""
    import threading
    import time

    clock = Clock()
    put(engine, clock, sample_report(1))
    started, gate = threading.Event(), threading.Event()

    class SlowReader(Pipeline):
        def prepare(self, raw, received_at):
            started.set()
            gate.wait(10)
            return raw

    worker = Worker(engine, SlowReader(), SETTINGS, clock=clock)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    try:
        assert started.wait(10)
        began = time.monotonic()
        put(engine, clock, sample_report(2))
        assert time.monotonic() - began < 2.0
    finally:
        gate.set()
        thread.join(30)


def test_a_claimed_message_briefly_locked_by_another_instance_is_still_processed(engine):
    """On PostgreSQL another instance's claim (FOR UPDATE SKIP LOCKED) can lock a row this
    worker has just claimed: its snapshot still saw the row as free, and the row stays locked
    until that claim commits. The worker must wait out such a lock, not skip the message,
    which would then sit unprocessed until its lease ran out (a minute by default)."""
    clock = Clock()
    [mid] = put(engine, clock, sample_report(1))
    worker = Worker(engine, Pipeline(), SETTINGS, clock=clock)
    with Session(engine) as s, s.begin():
        assert inbound.claim(s, now=clock(), lease=timedelta(seconds=60), limit=5) == [mid]
    locked = threading.Event()

    def other_instance() -> None:
        with Session(engine) as s, s.begin():
            s.execute(select(InboundMessage.id).where(InboundMessage.id == mid).with_for_update())
            locked.set()
            time.sleep(0.5)

    thread = threading.Thread(target=other_instance)
    thread.start()
    assert locked.wait(10)
    assert worker.process_one(mid) == PROCESSED
    thread.join()
    assert (row(engine, mid).status, row(engine, mid).attempts) == (PROCESSED, 1)
