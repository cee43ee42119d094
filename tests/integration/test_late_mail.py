"""Late mail (issue 15): a report that arrives long after it was sent (an IMAP backfill after an
outage, a replayed archive) is recorded and alerted, says how late at the top of its alerts, and
sends the carer no receipt. The threshold is `processing.late_mail_hours` (default 24)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailbridge.directory import csv_file
from mailbridge.episodes.prepare import late_hours
from mailbridge.episodes.processing import ReadingPipeline
from mailbridge.intake import Intake, make_incoming
from mailbridge.runtime.worker import Worker
from mailbridge.store import directory
from mailbridge.store.models import Alert, InboundMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECEIVED = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def report(sent: datetime, n: int) -> bytes:
    return (
        "From: Sue Carter <oakview@homes.example>\r\nTo: missing@council.example\r\n"
        f"Subject: Missing: Jordan Carter (100231)\r\nMessage-ID: <late-{n}@homes.example>\r\n"
        f"Date: {format_datetime(sent)}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Jordan Carter (100231) went out at 7pm and has not come back. We have rung the "
        "police.\r\n"
    ).encode()


def deliver(engine: Engine, settings: Any, raw: bytes) -> tuple[InboundMessage, list[Alert]]:
    stored = Intake(engine).accept(
        make_incoming(raw, source="imap", mail_from=None, rcpt_tos=[], peer=None,
                      clock=lambda: RECEIVED)
    )
    Worker(engine, ReadingPipeline(settings), settings.processing).run_once()
    with Session(engine) as s:
        alerts = list(s.scalars(select(Alert).where(Alert.inbound_id == stored.id)))
        return s.get_one(InboundMessage, stored.id), alerts


def setup(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=RECEIVED, actor="test")


def test_late_mail_is_recorded_alerted_as_late_and_sends_no_receipt(
    engine: Engine, make_settings: Any
) -> None:
    setup(engine)
    message, alerts = deliver(engine, make_settings(), report(RECEIVED - timedelta(hours=30), 1))
    assert message.status == "processed"
    assert "late: received 30 hours after it was sent" in (message.reason or "")
    assert "receipt" not in {a.event for a in alerts}
    staff = [a for a in alerts if a.event == "missing"]
    assert staff
    for alert in staff:
        notes = [line for line in alert.body_text.splitlines() if line.startswith("NOTE:")]
        assert notes[0] == "NOTE: LATE MAIL: received 30 hours after it was sent."
        # at the top: before the facts of the report
        assert alert.body_text.index("LATE MAIL") < alert.body_text.index("CHILD")


def test_on_time_mail_and_a_higher_threshold_get_a_receipt(
    engine: Engine, make_settings: Any
) -> None:
    setup(engine)
    _, alerts = deliver(engine, make_settings(), report(RECEIVED - timedelta(minutes=3), 2))
    assert "receipt" in {a.event for a in alerts}
    assert not any("LATE MAIL" in a.body_text for a in alerts)
    patient = make_settings("[processing]\nlate_mail_hours = 48\n")
    message, alerts = deliver(engine, patient, report(RECEIVED - timedelta(hours=30), 3))
    assert "receipt" in {a.event for a in alerts}
    assert "late" not in (message.reason or "")


def test_late_hours() -> None:
    day = timedelta(hours=24)
    assert late_hours(None, RECEIVED, day) is None
    assert late_hours(RECEIVED - timedelta(hours=23, minutes=59), RECEIVED, day) is None
    assert late_hours(RECEIVED - day, RECEIVED, day) == 24
    assert late_hours(RECEIVED - timedelta(hours=50, minutes=40), RECEIVED, day) == 50
