"""Priority lanes (issue 18): decided at intake from header facts, honoured by every claim,
with a share for the lower lanes; and serve's worker process, killed, is restarted without a
message lost or doubled. On SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import signal
import smtplib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from mailbridge.intake import Intake, make_incoming
from mailbridge.runtime.pipeline import Outcome
from mailbridge.runtime.worker import Worker
from mailbridge.settings.sections import ProcessingSettings
from mailbridge.store import inbound, outbox
from mailbridge.store.models import (
    PENDING,
    PROCESSED,
    QUEUED,
    Alert,
    AuditEntry,
    Child,
    Episode,
    InboundMessage,
)
from tests.support.env import SettingsFactory

NOW = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)
CARER = "oakview@homes.example"
LIVE = "MB-2026-00042"
CLOSED = "MB-2026-00041"
DOMAIN = "council.example"


def clock() -> datetime:
    return NOW


def mail(
    n: int,
    *,
    sender: str = "someone@elsewhere.example",
    subject: str = "hello",
    date: datetime = NOW,
    extra: str = "",
) -> bytes:
    return (
        f"From: Someone <{sender}>\r\n"
        "To: missing@council.example\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <lane-{n}@test.example>\r\n"
        f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"{extra}"
        "\r\n"
        f"Body {n}\r\n"
    ).encode()


def seed_directory_and_episodes(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        s.add(
            Child(
                child_id="100231",
                first_name="Jordan",
                last_name="Carter",
                carer_emails=[CARER, "Manager@Oakview.example"],
                attributes={},
                updated_at=NOW,
            )
        )
        for reference, status in ((LIVE, "open"), (CLOSED, "returned")):
            s.add(
                Episode(
                    reference=reference,
                    status=status,
                    opened_at=NOW - timedelta(days=1),
                    sender_known=True,
                    allocations={},
                    absence_type="M",
                    updated_at=NOW,
                )
            )


def store(engine: Engine, raw: bytes, *, mail_from: str | None = None, rcpt: str = "") -> int:
    intake = Intake(engine, clock=clock)
    item = make_incoming(
        raw,
        source="smtp",
        mail_from=mail_from,
        rcpt_tos=[rcpt or "missing@council.example"],
        peer=None,
        clock=clock,
    )
    return intake.accept(item).id


def lane(engine: Engine, message_id: int) -> int:
    with Session(engine) as s:
        return s.scalars(select(InboundMessage.lane).where(InboundMessage.id == message_id)).one()


def test_the_lane_comes_from_the_header_facts(engine: Engine) -> None:
    seed_directory_and_episodes(engine)
    cases = {
        "known carer (From)": (store(engine, mail(1, sender=CARER)), 1),
        "known carer, other case": (store(engine, mail(2, sender="manager@OAKVIEW.example")), 1),
        "known carer (envelope)": (store(engine, mail(3), mail_from=CARER), 1),
        "stranger": (store(engine, mail(4)), 2),
        "reply in a live thread": (store(engine, mail(5, subject=f"Re: {LIVE} update")), 1),
        "reference of a closed episode": (store(engine, mail(6, subject=f"Re: {CLOSED}")), 2),
        "reply to one of our alerts": (
            store(engine, mail(7, extra=f"In-Reply-To: <mb.{'ab' * 16}@council.example>\r\n")),
            1,
        ),
        "reply to a signed alert address": (
            store(engine, mail(8), rcpt=f"missing+a7.{LIVE.lower()}.sw.abcdefghijkl@{DOMAIN}"),
            1,
        ),
        "stranger, sent 3 hours ago": (store(engine, mail(9, date=NOW - timedelta(hours=3))), 3),
        "known carer, sent 2 days ago": (
            store(engine, mail(10, sender=CARER, date=NOW - timedelta(days=2))),
            3,
        ),
        "no Date header": (store(engine, mail(11).replace(b"Date:", b"X-Old-Date:")), 2),
        "unreadable Date header": (store(engine, mail(12).replace(b"Date: Thu", b"Date: ???")), 2),
        "a few minutes' delay": (store(engine, mail(13, date=NOW - timedelta(minutes=10))), 2),
    }
    got = {name: lane(engine, mid) for name, (mid, _) in cases.items()}
    assert got == {name: want for name, (_, want) in cases.items()}


def test_a_duplicate_keeps_its_own_lane_and_the_default_is_two(engine: Engine) -> None:
    first = store(engine, mail(1))
    again = store(engine, mail(1))
    assert first != again
    assert lane(engine, first) == lane(engine, again) == 2


class Recorder:
    """A pipeline that records the order in which the worker hands it messages."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def prepare(self, raw: bytes, received_at: datetime) -> bytes:
        return raw

    def process(self, session: Any, message: InboundMessage, prepared: bytes) -> Outcome:
        self.seen.append(message.id)
        return Outcome(PROCESSED, "ok")

    def gave_up(self, session: Any, message: InboundMessage, error: str) -> None:
        raise AssertionError("nothing should fail here")


def test_the_worker_claims_in_lane_order_and_lower_lanes_get_a_share(engine: Engine) -> None:
    seed_directory_and_episodes(engine)
    backlog = [store(engine, mail(n, date=NOW - timedelta(days=3))) for n in range(3)]
    junk = [store(engine, mail(100 + n)) for n in range(12)]
    carers = [store(engine, mail(200 + n, sender=CARER)) for n in range(2)]
    assert {lane(engine, i) for i in backlog} == {3}
    assert {lane(engine, i) for i in carers} == {1}

    pipeline = Recorder()
    settings = ProcessingSettings(batch_size=2, poll_seconds=0.1)
    worker = Worker(engine, pipeline, settings, clock=clock)
    assert worker.run_once() == 17
    seen = pipeline.seen
    assert sorted(seen) == sorted(backlog + junk + carers)  # nothing lost, nothing twice
    assert seen[:2] == carers  # the known carer first, though she wrote last
    # No starvation: the backlog's oldest start before the junk flood is through.
    assert seen.index(backlog[0]) < seen.index(junk[-1])
    # Within a lane, first in first out.
    assert [i for i in seen if i in junk] == junk


def test_lane_one_mail_cuts_into_a_lower_lane_batch(engine: Engine) -> None:
    """A lane-1 arrival while the worker is in a junk batch: the rest of the batch goes back."""
    junk = [store(engine, mail(n)) for n in range(6)]
    carer_ids: list[int] = []
    flag = {"set": False}

    class ArrivesMidBatch(Recorder):
        def prepare(self, raw: bytes, received_at: datetime) -> bytes:
            if b"Body 0\r\n" in raw:  # no transaction is open while a message is read
                carer_ids.append(store(engine, mail(99, sender=CARER), mail_from=CARER))
                flag["set"] = True
            return raw

    seed_directory_and_episodes(engine)
    pipeline = ArrivesMidBatch()
    worker = Worker(engine, pipeline, ProcessingSettings(batch_size=6), clock=clock)

    def waiting() -> bool:
        was, flag["set"] = flag["set"], False
        return was

    worker.priority_waiting = waiting
    assert worker.run_once() == 7
    assert pipeline.seen[:2] == [junk[0], carer_ids[0]]
    with Session(engine) as s:  # handed back, not counted as an attempt
        attempts = s.scalars(select(InboundMessage.attempts).where(InboundMessage.id.in_(junk)))
        assert set(attempts) == {1}


def add_alert(s: Session, n: int, lane_: int, due: datetime) -> int:
    alert = Alert(
        event_key=f"test:{n}",
        event="report",
        role="social_worker",
        recipient=f"sw{n}@council.example",
        message_id=f"mb.test{n}@council.example",
        subject="s",
        body_text="t",
        body_html="<p>t</p>",
        headers={},
        attach_inbound=False,
        status=QUEUED,
        attempts=0,
        next_attempt_at=due,
        created_at=due,
        lane=lane_,
    )
    s.add(alert)
    s.flush()
    return alert.id


def test_the_sender_claims_in_lane_order_with_a_share(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        old3 = add_alert(s, 1, 3, NOW - timedelta(minutes=9))
        twos = [add_alert(s, 10 + n, 2, NOW - timedelta(minutes=5 - n)) for n in range(4)]
        one = add_alert(s, 20, 1, NOW)
    until = NOW + timedelta(minutes=3)
    with Session(engine) as s, s.begin():
        assert outbox.claim(s, now=NOW, until=until, limit=3) == [one, twos[0], twos[1]]
    with Session(engine) as s, s.begin():  # the share: oldest due of any lane
        assert outbox.claim(s, now=NOW, until=until, limit=1, by_lane=False) == [old3]
    with Session(engine) as s, s.begin():
        assert outbox.claim(s, now=NOW, until=until, limit=5) == twos[2:]


def test_inherit_lane_moves_only_the_message_s_queued_alerts(engine: Engine) -> None:
    mid = store(engine, mail(1))
    with Session(engine) as s, s.begin():
        mine = add_alert(s, 1, 2, NOW)
        other = add_alert(s, 2, 2, NOW)
        s.get(Alert, mine).inbound_id = mid  # type: ignore[union-attr]
    with Session(engine) as s, s.begin():
        outbox.inherit_lane(s, inbound_id=mid, lane=1)
    with Session(engine) as s:
        assert s.get(Alert, mine).lane == 1  # type: ignore[union-attr]
        assert s.get(Alert, other).lane == 2  # type: ignore[union-attr]


def test_two_instances_claim_in_lane_order_without_overlap(engine: Engine) -> None:
    """PostgreSQL: a second instance's claim skips the first's locked rows and still takes
    the best of the rest, lane first."""
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent claims need PostgreSQL (SQLite serialises writers)")

    seed_directory_and_episodes(engine)
    junk = [store(engine, mail(n)) for n in range(3)]
    carers = [store(engine, mail(100 + n, sender=CARER)) for n in range(3)]
    lease = timedelta(seconds=60)
    with Session(engine) as a, a.begin():
        first = inbound.claim(a, now=NOW, lease=lease, limit=2)
        with Session(engine) as b, b.begin():
            second = inbound.claim(b, now=NOW, lease=lease, limit=2)
    assert first == carers[:2]
    assert second == [carers[2], junk[0]]


def test_a_killed_worker_process_is_restarted_and_nothing_is_lost_or_doubled(
    engine: Engine, make_settings: SettingsFactory, run_service: Any
) -> None:
    settings = make_settings(
        "[processing]\nworker_processes = 1\nlease_seconds = 3\npoll_seconds = 0.2\n"
        "timer_seconds = 3600\n"
    )
    svc = run_service(settings, processes=True)
    children = wait_for(worker_children, "a worker process")
    first_pid = children[0].pid

    def send(start: int, count: int) -> None:
        with smtplib.SMTP(svc.host, svc.port, timeout=30) as c:
            for n in range(start, start + count):
                c.sendmail("someone@elsewhere.example", ["missing@council.example"], mail(n))

    send(0, 10)
    os.kill(first_pid, signal.SIGKILL)  # mid-way, or before it started: either must be safe
    send(10, 10)
    wait_for(
        lambda: [p for p in worker_children() if p.pid != first_pid and p.is_alive()],
        "a restarted worker process",
    )
    wait_for(lambda: pending(engine) == 0, "every message finished", timeout=90)
    with Session(engine) as s:
        statuses = s.scalars(select(InboundMessage.status)).all()
        assert len(statuses) == 20 and PENDING not in statuses
        finished = s.execute(
            select(AuditEntry.entity_id, func.count())
            .where(AuditEntry.entity == "message", AuditEntry.action != "received")
            .where(AuditEntry.action != "retry")
            .group_by(AuditEntry.entity_id)
        ).all()
    assert len(finished) == 20
    assert all(count == 1 for _, count in finished), finished  # one terminal state each


def worker_children() -> list[Any]:
    return [
        p for p in multiprocessing.active_children() if p.name.startswith("mailbridge-worker")
    ]


def pending(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.status == PENDING)
        ) or 0


def wait_for(predicate: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_processed_message_s_alerts_carry_its_lane(
    engine: Engine, make_settings: SettingsFactory
) -> None:
    """Through the real pipeline: the alerts a message causes are written in its lane (a
    known carer's report in lane 1, a replayed old message in lane 3), and no other alert
    moves."""
    from mailbridge.runtime.serve import make_workers

    seed_directory_and_episodes(engine)
    with Session(engine) as s, s.begin():
        other = add_alert(s, 999, 2, NOW)
    report = store(engine, mail(1, sender=CARER, subject="Jordan Carter missing",
                                extra="X-Note: Jordan has not come home\r\n"))
    old = store(engine, mail(2, subject="Jordan Carter missing", date=NOW - timedelta(days=3)))
    assert (lane(engine, report), lane(engine, old)) == (1, 3)
    worker, _ = make_workers(engine, make_settings(), clock=clock)
    for message_id in (report, old):
        assert worker.process_one(message_id) is not None
    with Session(engine) as s:
        lanes = {
            (inbound_id, alert_lane)
            for inbound_id, alert_lane in s.execute(select(Alert.inbound_id, Alert.lane))
        }
    assert (report, 1) in lanes and (old, 3) in lanes, lanes
    assert {alert_lane for i, alert_lane in lanes if i == report} == {1}
    assert {alert_lane for i, alert_lane in lanes if i == old} == {3}
    assert {alert_lane for i, alert_lane in lanes if i not in (report, old)} == {2}
    with Session(engine) as s:
        assert s.get(Alert, other).lane == 2  # type: ignore[union-attr]
