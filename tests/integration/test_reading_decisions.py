"""Issue 13 through the real processing path (intake, worker, both databases): the shipped form
whole, who may close an episode, several children in one email, stale episodes, provenance."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from mailbridge.delivery.reply_secret import reply_secret
from mailbridge.delivery.reply_tokens import make_reply_address
from mailbridge.directory import csv_file
from mailbridge.episodes.processing import ReadingPipeline
from mailbridge.episodes.timeline import find_episode, list_episodes, render_timeline
from mailbridge.intake import Intake, make_incoming
from mailbridge.runtime.worker import Worker
from mailbridge.settings.config import Settings
from mailbridge.settings.sections import ProcessingSettings, ServiceSettings
from mailbridge.store import directory
from mailbridge.store.models import Acknowledgement, Alert, AuditEntry, InboundMessage
from tests.support.forms import FORM, filled

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY = ROOT / "tests" / "fixtures" / "reports-directory.csv"
SETTINGS = Settings(service=ServiceSettings(data_dir=tempfile.mkdtemp(prefix="mb-reading-")))
ASHGROVE = "ashgrove@homes.example"
T0 = datetime(2026, 12, 1, 22, 5, tzinfo=UTC)


@pytest.fixture
def world(engine: Engine) -> Engine:
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv(DIRECTORY.read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=T0 - timedelta(days=30), actor="test")
    return engine


def mail(subject: str, body: str, *, sender: str = ASHGROVE, mid: str, sent: datetime,
         to: str = "missing@council.example", in_reply_to: str | None = None) -> bytes:
    head = (f"From: Someone <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{mid}>\r\nDate: {format_datetime(sent)}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n")
    if in_reply_to:
        head += f"In-Reply-To: <{in_reply_to}>\r\nReferences: <{in_reply_to}>\r\n"
    return (head + "\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()


def run(engine: Engine, raw: bytes, received: datetime, rcpt: str | None = None) -> InboundMessage:
    intake = Intake(engine)
    stored = intake.accept(make_incoming(raw, source="inject", mail_from=None,
                                         rcpt_tos=[rcpt] if rcpt else [], peer=None,
                                         clock=lambda: received))
    Worker(engine, ReadingPipeline(SETTINGS), ProcessingSettings()).run_once()
    with Session(engine) as s:
        return s.get_one(InboundMessage, stored.id)


def episodes(engine: Engine) -> list[dict[str, object]]:
    with Session(engine) as s:
        return list_episodes(s)




MISSING = {"Child ID:": "200305", "Child's name:": "Callum Reid",
           "Date and time last seen:": "01/12/2026 21:15", "Where last seen:": "the park",
           "Police reference:": "log 2204 of 01/12", "Risk level:": "Medium",
           "Reported by:": "Marcia Dunn"}
RETURN = {"Child ID:": "200305", "Child's name:": "Callum Reid",
          "Date and time returned:": "02/12/2026 01:40", "Returned by:": "Police",
          "Safe and well:": "Yes", "Reported by:": "Marcia Dunn"}


def test_the_shipped_form_whole_opens_and_its_return_part_alone_closes(world: Engine) -> None:
    form = FORM.read_text(encoding="utf-8")
    first = run(world, mail("Missing child report", filled("MISSING", MISSING, form),
                            mid="f1@x", sent=T0), T0 + timedelta(minutes=1))
    assert first.reason and first.reason.startswith("missing MB-")
    [ep] = episodes(world)
    assert (ep["status"], ep["child_id"], ep["returned_at"], ep["safe_and_well"]) == (
        "open", "200305", None, None)
    assert ep["needs_confirmation"] is False
    with Session(world) as s:
        events = set(s.scalars(select(Alert.event).where(Alert.episode_id.is_not(None))))
    assert "missing" in events and "returned" not in events

    part = "--- RETURN" + form.split("--- RETURN", 1)[1]
    back = datetime(2026, 12, 2, 1, 58, tzinfo=UTC)
    second = run(world, mail("Re: Missing child report", filled("RETURN", RETURN, part),
                             mid="f2@x", sent=back, in_reply_to="f1@x"), back)
    assert second.reason and second.reason.startswith("returned MB-"), second.reason
    [ep] = episodes(world)
    assert ep["status"] == "returned"
    assert ep["returned_at"] == "2026-12-02T01:40:00+00:00"
    assert ep["safe_and_well"] is True


def _open_callum(engine: Engine) -> str:
    run(engine, mail("Callum Reid missing", "Callum Reid has gone missing, last seen at 21:15 "
                     "by the park.", mid="c1@x", sent=T0), T0)
    [ep] = episodes(engine)
    return str(ep["reference"])


def test_a_stranger_in_the_thread_cannot_close_and_the_alert_says_who_claimed_it(
    world: Engine,
) -> None:
    ref = _open_callum(world)
    later = T0 + timedelta(hours=2)
    out = run(world, mail(f"Re: {ref}", "Callum is back, walked in at 23:50.",
                          sender="someone@elsewhere.example", mid="c2@x", sent=later,
                          in_reply_to="c1@x"), later)
    assert out.reason and out.reason.startswith("update"), out.reason
    [ep] = episodes(world)
    assert ep["status"] == "open" and ep["returned_at"] is None
    assert ep["needs_confirmation"] is True
    reason = str(ep["confirmation_reason"])
    assert "C.R. is back" in reason and "someone@elsewhere.example" in reason
    with Session(world) as s:
        bodies = list(s.scalars(select(Alert.body_text).where(Alert.event == "update")))
    assert bodies and all("please confirm before closing" in b.lower() for b in bodies)
    assert all("someone@elsewhere.example" in b for b in bodies)


def test_a_forged_token_closes_nothing_and_a_valid_staff_token_closes(world: Engine) -> None:
    ref = _open_callum(world)
    with Session(world) as s:
        alert = s.scalars(select(Alert).where(Alert.role == "social_worker")).first()
        assert alert is not None
        alert_id = alert.id
    base = SETTINGS.smtp.addresses[0]
    good = make_reply_address(base, alert_id=alert_id, episode_ref=ref, role="social_worker",
                              secret=reply_secret(SETTINGS))
    forged = make_reply_address(base, alert_id=alert_id, episode_ref=ref, role="social_worker",
                                secret=b"not-our-secret-not-our-secret-00")
    later = T0 + timedelta(hours=3)
    out = run(world, mail(f"RE: {ref}", "He is back, police brought him home at 00:30.",
                          sender="daniel.reid@council.example", to=forged, mid="t1@x",
                          sent=later), later, rcpt=forged)
    assert out.status == "ignored" and "forged" in (out.reason or "")
    assert episodes(world)[0]["status"] == "open"
    out = run(world, mail(f"RE: {ref}", "He is back, police brought him home at 00:30.",
                          sender="daniel.reid@council.example", to=good, mid="t2@x",
                          sent=later), later, rcpt=good)
    assert out.reason and out.reason.startswith("returned"), out.reason
    [ep] = episodes(world)
    assert ep["status"] == "returned" and ep["needs_confirmation"] is False
    with Session(world) as s:  # the reply to the alert acknowledged it as well
        acks = list(s.scalars(select(Acknowledgement.address)))
    assert acks == ["daniel.reid@council.example"]


def test_a_handover_about_three_children_is_two_reports(world: Engine) -> None:
    sent = datetime(2026, 12, 2, 7, 5, tzinfo=UTC)
    body = ("Callum is back, came in at 02.40 with police, safe and well.\n"
            "Jasmine is still out. Last seen at the park at 20:30 last night.\n"
            "Connor settled, no issues.")
    out = run(world, mail("Night handover", body, sender="nights@ashgrove.example", mid="h1@x",
                          sent=sent), sent)
    assert out.status == "processed"
    got = {e["child_id"]: e for e in episodes(world)}
    assert set(got) == {"200305", "200304"}
    assert got["200304"]["status"] == "open"
    assert got["200304"]["last_seen_at"] == "2026-12-01T20:30:00+00:00"
    assert got["200305"]["status"] == "returned"
    assert got["200305"]["returned_at"] == "2026-12-02T02:40:00+00:00"


def test_a_stale_episode_does_not_swallow_a_new_report(world: Engine) -> None:
    ref = _open_callum(world)
    later = T0 + timedelta(days=8)
    out = run(world, mail("Callum missing again", "Callum has gone missing, left at 19:00.",
                          mid="s2@x", sent=later), later)
    assert out.reason and out.reason.startswith("missing MB-"), out.reason
    eps = episodes(world)
    assert [e["status"] for e in eps] == ["open", "open"]
    new = eps[1]["reference"]
    with Session(world) as s:
        bodies = list(s.scalars(select(Alert.body_text).join(
            InboundMessage, InboundMessage.id == Alert.inbound_id).where(
            Alert.event == "missing", InboundMessage.message_id == "s2@x")))
        audit = list(s.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == ref)))
    assert bodies and all(ref in b and "still" in b for b in bodies)
    assert "stale_superseded" in audit
    assert new != ref


def test_a_week_old_episode_still_takes_updates(world: Engine) -> None:
    _open_callum(world)
    later = T0 + timedelta(days=6)
    out = run(world, mail("Callum", "Callum is still missing, police have been round.",
                          mid="u2@x", sent=later), later)
    assert out.reason and out.reason.startswith("update"), out.reason
    assert len(episodes(world)) == 1


def test_provenance_in_episode_show_and_in_the_alert(world: Engine) -> None:
    out = run(world, mail("Connor Walsh", "Connor Walsh left about half eight after a row. "
                          "He has not come back. Police informed, ref 44260117788.",
                          mid="p1@x", sent=datetime(2026, 12, 7, 22, 10, tzinfo=UTC)),
              datetime(2026, 12, 7, 22, 11, tzinfo=UTC))
    assert out.status == "processed"
    with Session(world) as s:
        [ep] = list_episodes(s)
        data = find_episode(s, str(ep["reference"]))
        bodies = list(s.scalars(select(Alert.body_text).where(Alert.event == "missing")))
    assert data is not None
    assert data["last_seen_at"] == "2026-12-07T20:30:00+00:00"
    assert data["facts_from"]["last_seen"] == (
        "Connor Walsh left about half eight after a row")
    text = render_timeline(data)
    assert "  from:        'Connor Walsh left about half eight after a row'" in text
    assert bodies and all("'Connor Walsh left about half eight after a row'" in b
                          for b in bodies)


def test_history_opens_nothing(world: Engine) -> None:
    out = run(world, mail("Callum - LAC review", "Callum has not run off since the spring and "
                          "there have been no episodes this month.", mid="n1@x", sent=T0), T0)
    assert out.status == "ignored"
    assert episodes(world) == []
