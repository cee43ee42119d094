"""The queue picture (`health.py`) read from a real database filled by the real pipeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mailbridge.intake import Intake, make_incoming
from mailbridge.ops import health
from mailbridge.runtime.serve import make_workers
from mailbridge.store import health as figures
from mailbridge.store.models import Alert, DueAction, Episode, InboundMessage, Interview
from tests.support.env import sample_report

T0 = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)


def store(engine, n: int, *, source: str, at: datetime) -> int:
    intake = Intake(engine, clock=lambda: at)
    item = make_incoming(
        sample_report(n),
        source=source,
        mail_from="carer@homes.example",
        rcpt_tos=["missing@council.example"],
        peer=None,
        clock=lambda: at,
    )
    return intake.accept(item).id


def fill(engine, settings) -> dict[str, int]:
    """Two reports processed (alerts queued, not sent), one pending, one failed, one interview
    overdue."""
    store(engine, 1, source="smtp", at=T0)
    store(engine, 2, source="imap", at=T0 + timedelta(minutes=1))
    worker, _sender = make_workers(engine, settings, clock=lambda: T0 + timedelta(minutes=2))
    assert worker.run_once() == 2
    store(engine, 3, source="smtp", at=T0 + timedelta(minutes=3))
    failed = store(engine, 4, source="inject", at=T0 + timedelta(minutes=4))
    with Session(engine) as session, session.begin():
        session.execute(
            update(InboundMessage).where(InboundMessage.id == failed).values(status="failed")
        )
        episode = session.scalars(select(Episode).order_by(Episode.id)).first()
        assert episode is not None
        session.add(
            Interview(
                episode_id=episode.id,
                due_at=T0 + timedelta(hours=1),
                status="due",
                overdue=False,
                reason_codes=[],
                sent_back=0,
            )
        )
    with Session(engine) as session:
        return {
            "queued": session.scalar(select(func.count(Alert.id))) or 0,
            "due": session.scalar(
                select(func.count(DueAction.id)).where(DueAction.status == "pending")
            )
            or 0,
        }


def test_an_empty_database(engine):
    with Session(engine) as session:
        snap = health.snapshot(session, T0)
    assert snap.queues == figures.Queues(0, 0, 0, 0, 0)
    assert snap.last_message is None
    assert snap.oldest_alert is None
    assert snap.overdue_interviews == []
    assert health.snapshot_lines(snap, UTC)[-4:] == [
        "last message: none yet",
        "oldest undelivered alert: none",
        "overdue interviews: 0",
        "smtp replies (24 h): none",
    ]


def test_the_picture_after_reports(engine, make_settings):
    settings = make_settings()
    truth = fill(engine, settings)
    assert truth["queued"] >= 2 and truth["due"] >= 1
    now = T0 + timedelta(hours=2)
    with Session(engine) as session:
        snap = health.snapshot(session, now)
        counts = figures.message_counts(session)
        alerts = figures.alert_counts(session)
        first_ref = session.scalars(select(Episode.reference).order_by(Episode.id)).first()
    assert snap.queues == figures.Queues(
        pending_messages=1,
        failed_messages=1,
        queued_alerts=truth["queued"],
        failed_alerts=0,
        pending_due_actions=truth["due"],
    )
    assert ("smtp", "processed", 1) in counts
    assert ("imap", "processed", 1) in counts
    assert ("smtp", "pending", 1) in counts
    assert ("inject", "failed", 1) in counts
    assert alerts == [("queued", truth["queued"])]
    assert snap.last_message == figures.LastMessage(T0 + timedelta(minutes=4), "inject")
    oldest = snap.oldest_alert
    assert oldest is not None
    # An alert is stamped with its message's receipt (T0): its age is the carer's wait.
    assert oldest.created_at == T0
    assert oldest.age_seconds == (now - T0).total_seconds()
    assert oldest.episode == first_ref
    assert snap.overdue_interviews == [first_ref]

    data = health.snapshot_json(snap)
    assert data["queues"]["queued_alerts"] == truth["queued"]
    assert data["last_message"] == {
        "received_at": (T0 + timedelta(minutes=4)).isoformat(),
        "source": "inject",
    }
    assert set(data["oldest_undelivered_alert"]) == {
        "created_at",
        "age_seconds",
        "event",
        "role",
        "episode",
    }
    assert data["overdue_interviews"] == {"count": 1, "episodes": [first_ref]}
    text = "\n".join(health.snapshot_lines(snap, UTC))
    assert "messages: 1 pending, 1 failed" in text
    assert f"overdue interviews: 1 ({first_ref})" in text
    assert "carer@homes.example" not in text and "Jordan" not in text


def test_an_interview_done_or_not_yet_due_is_not_overdue(engine, make_settings):
    fill(engine, make_settings())
    with Session(engine) as session:
        assert figures.overdue_interviews(session, T0) == []  # due at T0 + 1 h
    with Session(engine) as session, session.begin():
        session.execute(update(Interview).values(status="completed"))
    with Session(engine) as session:
        assert figures.overdue_interviews(session, T0 + timedelta(days=9)) == []
