"""The weekly and monthly digest: which period is due, who gets it, and never twice."""

from __future__ import annotations

import email
import threading
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from mailbridge.alerts.outbox import Notifier
from mailbridge.delivery.sender import Sender
from mailbridge.directory import csv_file
from mailbridge.episodes.processing import ReadingPipeline
from mailbridge.intake import Intake, make_incoming
from mailbridge.reports import digest
from mailbridge.runtime.worker import Worker
from mailbridge.settings.config import Settings
from mailbridge.store import directory
from mailbridge.store.models import Alert, AuditEntry, DigestRun
from tests.support.env import cli_runner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Wednesday 11 November 2026, 10:00 UTC: a report in the week of 9-15 November.
REPORTED = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)
# Monday 16 November 2026, 08:00 London (GMT): the weekly digest for 9-15 November is due.
MONDAY_8 = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
TM = "tm.north@council.example"
APPRENTICE = "apprentice@council.example"


# -- which period ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "today", "start", "end"),
    [
        ("weekly", date(2026, 11, 16), date(2026, 11, 9), date(2026, 11, 16)),  # a Monday
        ("weekly", date(2026, 11, 22), date(2026, 11, 9), date(2026, 11, 16)),  # a Sunday
        ("weekly", date(2027, 1, 1), date(2026, 12, 21), date(2026, 12, 28)),  # across new year
        ("monthly", date(2026, 12, 1), date(2026, 11, 1), date(2026, 12, 1)),
        ("monthly", date(2026, 12, 31), date(2026, 11, 1), date(2026, 12, 1)),
        ("monthly", date(2027, 1, 1), date(2026, 12, 1), date(2027, 1, 1)),
        ("monthly", date(2027, 3, 1), date(2027, 2, 1), date(2027, 3, 1)),
    ],
)
def test_last_finished_period(kind: str, today: date, start: date, end: date) -> None:
    period = digest.last_finished(kind, today)
    assert (period.start, period.end) == (start, end)


def settings_with(make_settings: Any, toml: str = "") -> Settings:
    settings: Settings = make_settings(toml)
    return settings


def test_due_after_the_send_hour_local_time_and_only_for_periods_in_use(
    make_settings: Any,
) -> None:
    settings = settings_with(make_settings, '[digest]\nperiods = ["weekly"]\nsend_hour = 7\n')
    # 06:59 London on Monday: not yet; 07:00: due.
    assert digest.due_periods(settings, datetime(2026, 11, 16, 6, 59, tzinfo=UTC), REPORTED) == []
    (period,) = digest.due_periods(settings, datetime(2026, 11, 16, 7, 0, tzinfo=UTC), REPORTED)
    assert period.key == "digest:weekly:2026-11-09"
    # In summer, 07:00 London is 06:00 UTC.
    summer = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert digest.due_periods(settings, datetime(2026, 6, 8, 5, 59, tzinfo=UTC), summer) == []
    assert digest.due_periods(settings, datetime(2026, 6, 8, 6, 0, tzinfo=UTC), summer) != []
    # A new installation does not send figures for a week before its first message.
    first_mail_after = datetime(2026, 11, 16, 0, 5, tzinfo=UTC)
    assert digest.due_periods(settings, MONDAY_8, first_mail_after) == []
    assert digest.due_periods(settings, MONDAY_8, None) == []
    # None configured: nothing due.
    off = settings_with(make_settings, "[digest]\nperiods = []\n")
    assert digest.due_periods(off, MONDAY_8, REPORTED) == []


def test_bad_digest_settings_are_named(make_settings: Any) -> None:
    from mailbridge.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        make_settings('[digest]\nperiods = ["daily"]\nsend_hour = 25\nrecipients = ["a b"]\n')
    text = str(err.value)
    assert "digest.periods" in text and "digest.send_hour" in text
    assert "digest.recipients" in text


# -- sending once ---------------------------------------------------------------------------


class Service:
    """Intake, worker and sender on one database, with the clock in the test's hands."""

    def __init__(self, engine: Any, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.now = REPORTED
        self.notifier = Notifier(settings)
        self.worker = Worker(
            engine,
            ReadingPipeline(settings, notifier=self.notifier),
            settings.processing,
            clock=lambda: self.now,
        )

    def report(self, n: int) -> None:
        raw = (
            f"From: <oakview@homes.example>\r\nTo: <missing@council.example>\r\n"
            f"Subject: Missing: Jordan Carter (100231)\r\nMessage-ID: <digest-{n}@x>\r\n"
            f"Date: {format_datetime(self.now)}\r\nContent-Type: text/plain\r\n\r\n"
            "Jordan Carter (100231) has not come home since 09:00 this morning.\r\n"
        ).encode()
        Intake(self.engine, clock=lambda: self.now).accept(
            make_incoming(
                raw,
                source="smtp",
                mail_from="oakview@homes.example",
                rcpt_tos=["missing@council.example"],
                peer=None,
                clock=lambda: self.now,
            )
        )
        self.worker.run_once()

    def digests(self) -> list[Alert]:
        with Session(self.engine) as s:
            return list(
                s.scalars(
                    select(Alert)
                    .options(undefer(Alert.attachment))
                    .where(Alert.event == "digest")
                    .order_by(Alert.recipient)
                )
            )


@pytest.fixture
def service(engine: Any, make_settings: Any, tmp_path: Path) -> Service:
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=REPORTED, actor="test")
    settings = settings_with(
        make_settings,
        '[digest]\nperiods = ["weekly", "monthly"]\n'
        'recipients = ["apprentice", "team_manager", "Head.Of.Service@council.example"]\n',
    )
    svc = Service(engine, settings)
    svc.report(1)
    return svc


def test_the_weekly_digest_goes_once_to_the_apprentice_and_managers_with_the_report(
    service: Service,
) -> None:
    routing = service.notifier.routing
    (outcome,) = digest.run_due(service.engine, service.settings, routing, MONDAY_8)
    assert outcome.period.key == "digest:weekly:2026-11-09"
    rows = service.digests()
    recipients = [a.recipient for a in rows]
    assert APPRENTICE in recipients and TM in recipients
    assert "head.of.service@council.example" in recipients
    assert len(recipients) == len(set(recipients)) == outcome.queued
    first = rows[0]
    assert first.subject == "Missing episodes: weekly digest, 09 to 15 Nov 2026"
    assert first.episode_id is None and first.attachment_type == "text/html"
    assert first.attachment_name == "mailbridge-weekly-report-2026-11-09.html"
    assert first.attachment is not None and b"<svg" in first.attachment
    # Pseudonymised: the report attached names nobody.
    assert b"Jordan" not in first.attachment and b"Carter" not in first.attachment
    assert "Jordan" not in first.body_text and "Carter" not in first.body_html

    # Every later pass in the same week, from this or another instance, sends nothing.
    for hour in (9, 12, 23):
        later = MONDAY_8.replace(hour=hour)
        assert digest.run_due(service.engine, service.settings, routing, later) == []
    assert len(service.digests()) == len(rows)
    with Session(service.engine) as s:
        (run,) = s.scalars(select(DigestRun))
        assert (run.kind, run.period_start, run.period_end) == (
            "weekly",
            date(2026, 11, 9),
            date(2026, 11, 16),
        )
        assert run.recipients == len(rows)
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.entity == "digest")) is not None

    # The monthly digest for November is due on 1 December, once.
    december = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    outcomes = digest.run_due(service.engine, service.settings, routing, december)
    assert [o.period.key for o in outcomes] == [
        "digest:weekly:2026-11-23",
        "digest:monthly:2026-11-01",
    ]
    assert digest.run_due(service.engine, service.settings, routing, december) == []


def test_two_instances_claiming_one_period_send_it_once(service: Service) -> None:
    routing = service.notifier.routing
    period = digest.last_finished("weekly", date(2026, 11, 16))
    results: list[digest.Outcome] = []
    errors: list[BaseException] = []

    def claim() -> None:
        try:
            results.append(digest.send(service.engine, service.settings, routing, period, MONDAY_8))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(o.skipped or "sent" for o in results) == ["already sent", "sent"]
    queued = [o.queued for o in results if not o.skipped]
    assert len(service.digests()) == queued[0]


def test_the_digest_email_carries_the_report_as_an_attachment(service: Service) -> None:
    digest.run_due(service.engine, service.settings, service.notifier.routing, MONDAY_8)
    sender = Sender(service.engine, service.settings, clock=lambda: MONDAY_8)
    report = sender.deliver_due()
    assert report.written >= 3
    outbox = service.settings.data_dir / "outbox"
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=default_policy)
        for p in sorted(outbox.glob("*.eml"))
    ]
    digests = [m for m in mails if str(m["Subject"]).startswith("Missing episodes: weekly")]
    assert len(digests) >= 3
    msg = digests[0]
    assert isinstance(msg, EmailMessage)
    (attached,) = list(msg.iter_attachments())
    assert attached.get_filename() == "mailbridge-weekly-report-2026-11-09.html"
    page = attached.get_payload(decode=True)
    assert isinstance(page, bytes) and page.lstrip().lower().startswith(b"<!doctype html")
    body = msg.get_body(("plain",))
    assert body is not None and "09/11/2026 to 15/11/2026" in body.get_content()


def test_cli_lists_and_sends_the_due_digest(
    service: Service,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = cli_runner(database_url, tmp_path, monkeypatch, capsys, lambda _stem: REPORTED)
    Path(run.base[1]).write_text(
        '[digest]\nperiods = ["weekly"]\nrecipients = ["apprentice"]\n', encoding="utf-8"
    )
    shown = run.json("digest", "--at", "2026-11-16T08:00", "--json")
    assert shown["periods"] == [
        {
            "kind": "weekly",
            "from": "2026-11-09",
            "to": "2026-11-15",
            "sent_at": None,
            "due": True,
            "why_not_due": None,
        }
    ]
    code, out, err = run("digest", "--at", "2026-11-16T08:00", "--send")
    assert code == 0, err
    assert "queued digest:weekly:2026-11-09 for 1 recipient(s)" in out
    again = run.json("digest", "--at", "2026-11-16T09:00", "--json")
    assert again["queued"] == []
    assert again["periods"][0]["sent_at"] is not None and again["periods"][0]["due"] is False
