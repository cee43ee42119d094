"""Reports through the worker into episodes, on both databases, with a real directory."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.directory import csv_file
from mailbridge.episodes.processing import ReadingPipeline
from mailbridge.episodes.timeline import find_episode, list_episodes
from mailbridge.intake import Intake, make_incoming
from mailbridge.runtime.worker import Worker
from mailbridge.settings.config import Settings
from mailbridge.settings.sections import ProcessingSettings, ServiceSettings
from mailbridge.store import directory
from mailbridge.store.models import InboundMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Its own data dir: the pipeline keeps the reply-signing key there.
SETTINGS = Settings(service=ServiceSettings(data_dir=tempfile.mkdtemp(prefix="mb-processing-")))
SENT = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)
RECEIVED = SENT + timedelta(minutes=2)


@pytest.fixture
def world(engine):
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=SENT, actor="test")
    return engine


def mail(
    subject: str,
    body: str,
    *,
    sender: str = "oakview@homes.example",
    mid: str,
    in_reply_to: str | None = None,
    extra: str = "",
) -> bytes:
    head = (
        f"From: Carer <{sender}>\r\nTo: missing@council.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{mid}>\r\nDate: {format_datetime(SENT)}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
    )
    if in_reply_to:
        head += f"In-Reply-To: <{in_reply_to}>\r\nReferences: <{in_reply_to}>\r\n"
    return (head + extra + "\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()


def run(engine, *raws: bytes) -> list[InboundMessage]:
    intake = Intake(engine)
    ids = [
        intake.accept(
            # received minutes after SENT: mail a day late is late mail (no receipt; issue 15)
            make_incoming(r, source="inject", mail_from=None, rcpt_tos=[], peer=None,
                          clock=lambda: RECEIVED)
        ).id
        for r in raws
    ]
    settings = SETTINGS
    Worker(engine, ReadingPipeline(settings), ProcessingSettings()).run_once()
    with Session(engine) as s:
        return [s.get_one(InboundMessage, i) for i in ids]


def episodes(engine):
    with Session(engine) as s:
        return list_episodes(s)


def test_missing_then_update_then_return_in_thread(world):
    (m1,) = run(
        world,
        mail(
            "Missing: Jordan Carter (100231)",
            "Jordan went out at 7pm and has not come back. Police log 1123 of "
            "26/11/2026. High risk.",
            mid="m1@x",
        ),
    )
    assert m1.status == "processed"
    (ep,) = episodes(world)
    assert ep["child_id"] == "100231"
    assert ep["status"] == "open"
    assert ep["reference"].startswith("MB-2026-")
    assert ep["sender_known"] is True
    assert ep["reported_by"] == "oakview@homes.example"
    assert ep["match_method"] == "child_id"
    assert ep["police_reference"]
    assert ep["allocations"]["social_worker"]["email"] == "sam.patel@council.example"

    run(
        world,
        mail(
            "Re: Missing: Jordan Carter (100231)",
            "Still not back, police visited.",
            mid="m2@x",
            in_reply_to="m1@x",
        ),
    )
    run(
        world,
        mail(
            "Re: Missing: Jordan Carter (100231)",
            "Jordan came home at 21:20, safe and well.",
            mid="m3@x",
            in_reply_to="m2@x",
        ),
    )
    (ep,) = episodes(world)
    assert ep["status"] == "returned"
    assert ep["returned_at"] is not None
    assert ep["message_ids"] == ["m1@x", "m2@x", "m3@x"]
    assert [m["event"] for m in ep["messages"]] == ["missing", "update", "returned"]


def test_second_carer_report_is_an_update_not_a_new_episode(world):
    run(world, mail("Jordan Carter missing", "Jordan Carter (100231) missing since 8pm", mid="a@x"))
    run(
        world,
        mail(
            "Jordan missing",
            "Jordan Carter has gone missing from school 100231",
            sender="manager@oakview.example",
            mid="b@x",
        ),
    )
    (ep,) = episodes(world)
    assert ep["message_ids"] == ["a@x", "b@x"]


def test_unknown_child_is_an_unmatched_episode(world):
    (m,) = run(
        world,
        mail(
            "Missing young person",
            "Kieran Walsh has run away from our home tonight, last seen 9pm.",
            sender="new.home@example.org",
            mid="u@x",
        ),
    )
    assert m.status == "processed"
    (ep,) = episodes(world)
    assert ep["child_id"] is None
    assert ep["sender_known"] is False
    assert ep["match_method"] in ("none", "ambiguous")


def test_auto_reply_and_not_a_report_are_ignored_with_reasons(world):
    ooo, chat = run(
        world,
        mail(
            "Automatic reply: Missing",
            "I am out of the office.",
            mid="o@x",
            extra="Auto-Submitted: auto-replied\r\n",
        ),
        mail(
            "Training", "Thanks for the training session yesterday, see you next month.", mid="t@x"
        ),
    )
    assert ooo.status == "ignored" and "auto" in (ooo.reason or "")
    assert chat.status == "ignored" and "not a report" in (chat.reason or "")
    assert episodes(world) == []


def test_reprocessing_changes_nothing(world):
    (m,) = run(world, mail("Missing 100231", "Jordan missing since 9pm", mid="r@x"))
    from mailbridge.store import inbound

    with Session(world) as s, s.begin():
        inbound.reset_for_reprocess(s, m.id, now=SENT, actor="test")
    Worker(world, ReadingPipeline(SETTINGS), ProcessingSettings()).run_once()
    (ep,) = episodes(world)
    assert ep["message_ids"] == ["r@x"]


def test_episode_lookup_by_reference(world):
    run(
        world,
        mail(
            "Missing 100232",
            "Chloé has not returned from college.",
            sender="riverside.carers@fostering.example",
            mid="c@x",
        ),
    )
    (ep,) = episodes(world)
    with Session(world) as s:
        found = find_episode(s, ep["reference"].lower())
    assert found is not None and found["child_id"] == "100232"
    with Session(world) as s:
        assert select(InboundMessage) is not None
        assert find_episode(s, "MB-1999-00001") is None


def test_attachments_are_listed_on_the_episode_not_inlined(world):
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    import base64

    raw = (
        "From: Carer <oakview@homes.example>\r\nTo: missing@council.example\r\n"
        "Subject: Missing report 100231\r\nMessage-ID: <pdf@x>\r\n"
        f"Date: {format_datetime(SENT)}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nJordan is missing, form attached.\r\n"
        '--b\r\nContent-Type: application/pdf; name="form.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="form.pdf"\r\n\r\n'
        + base64.b64encode(pdf).decode()
        + "\r\n--b--\r\n"
    ).encode()
    (m,) = run(world, raw)
    assert m.status == "processed"
    (ep,) = episodes(world)
    (msg,) = ep["messages"]
    assert msg["attachments"] == [
        {"name": "form.pdf", "content_type": "application/pdf", "size": len(pdf)}
    ]


def test_concurrent_first_reports_for_one_child_open_one_episode(world, database_url):
    """Two workers, two carers, the same child at the same moment: one episode, one update."""
    import threading

    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE; the race needs PostgreSQL")

    intake = Intake(world)
    for n, sender in enumerate(("oakview@homes.example", "manager@oakview.example")):
        intake.accept(
            make_incoming(
                mail(
                    "Missing 100231", f"Jordan missing, report {n}", sender=sender, mid=f"race{n}@x"
                ),
                source="inject",
                mail_from=None,
                rcpt_tos=[],
                peer=None,
            )
        )
    barrier = threading.Barrier(2)

    class Slow(ReadingPipeline):
        def process(self, session, message, prepared):
            barrier.wait(timeout=10)
            return super().process(session, message, prepared)

    workers = [Worker(world, Slow(SETTINGS), ProcessingSettings(batch_size=1)) for _ in range(2)]
    threads = [threading.Thread(target=w.run_once) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    (ep,) = episodes(world)
    assert sorted(ep["message_ids"]) == ["race0@x", "race1@x"]


def test_an_update_is_vouched_for_by_its_own_sender_not_the_first_reporter(world):
    from mailbridge.store.models import Alert

    run(world, mail("Missing: Jordan Carter (100231)", "Jordan has not come back.", mid="v1@x"))
    run(world, mail("Re: Missing: Jordan Carter (100231)", "Any news? I saw him at the shops.",
                    sender="stranger@example.net", mid="v2@x", in_reply_to="v1@x"))
    with Session(world) as s:
        first = s.scalars(select(Alert).where(Alert.event == "missing",
                                              Alert.role == "social_worker")).one()
        update = s.scalars(select(Alert).where(Alert.event == "update",
                                               Alert.role == "social_worker")).one()
        receipt = s.scalars(select(Alert).where(Alert.event == "receipt",
                                                Alert.recipient == "stranger@example.net")).one()
    assert "SENDER UNVERIFIED" not in first.body_text
    assert "stranger@example.net" in update.body_text
    assert "SENDER UNVERIFIED" in update.body_text
    assert "oakview@homes.example (known carer)" not in update.body_text
    # A stranger who replies in the thread does not learn the child's initials.
    assert "J.C." not in receipt.body_text and "the child you named" in receipt.body_text


# -- the SSDA903 classification (M missing / A away) by update ----------------------------


def _absence_audit(engine) -> list[tuple[str, str, dict[str, object]]]:
    from mailbridge.store.models import AuditEntry

    with Session(engine) as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(["absence_type", "absence_type_not_applied"]))
            .order_by(AuditEntry.id)
        )
        return [(r.action, r.actor, dict(r.detail or {})) for r in rows]


def test_updates_reclassify_and_a_reply_to_a_returned_episode_reopens_nothing(world):
    run(world, mail("Missing: Jordan Carter (100231)", "Jordan has not come back.", mid="c1@x"))
    (ep,) = episodes(world)
    assert ep["absence_type"] == "M"
    # A stranger replying in the thread is heard (an update) but does not change the return.
    (m1,) = run(world, mail("Re: Missing: Jordan Carter (100231)", "Absence type: A",
                            sender="stranger@example.net", mid="c1b@x", in_reply_to="c1@x"))
    assert m1.status == "processed"
    (ep,) = episodes(world)
    assert ep["absence_type"] == "M"
    ((action, actor, detail),) = _absence_audit(world)
    assert (action, actor, detail["asked"], detail["kept"]) == (
        "absence_type_not_applied", "stranger@example.net", "A", "M",
    )

    (m2,) = run(world, mail("Re: Missing: Jordan Carter (100231)",
                            "Sorry, this was an absence / away from placement, not missing. "
                            "He is at his friend's, we know where.", mid="c2@x",
                            in_reply_to="c1@x"))
    assert m2.status == "processed"
    (ep,) = episodes(world)
    assert (ep["absence_type"], ep["status"]) == ("A", "open")
    assert [m["event"] for m in ep["messages"]] == ["missing", "update", "update"]
    audit = _absence_audit(world)[-1]
    assert audit[:2] == ("absence_type", "oakview@homes.example")
    assert {k: audit[2][k] for k in ("old", "new", "source", "message")} == {
        "old": "M", "new": "A", "source": "report", "message": m2.id,
    }

    run(world, mail("Re: Missing: Jordan Carter (100231)", "Jordan came home at 21:20.",
                    mid="c3@x", in_reply_to="c2@x"))
    # After the return, "reclassify as missing" is about the record, not a child gone again.
    (m4,) = run(world, mail("Re: Missing: Jordan Carter (100231)",
                            "On reflection please reclassify as missing.", mid="c4@x",
                            in_reply_to="c3@x"))
    assert m4.status == "processed"
    (ep,) = episodes(world)
    assert (ep["absence_type"], ep["status"]) == ("M", "returned")
    assert [a[2].get("new") for a in _absence_audit(world)] == [None, "A", "M"]

    # Gone again, said so, with the code: that is a new episode, opened as asked.
    run(world, mail("Re: Missing: Jordan Carter (100231)",
                    "Jordan has gone missing again tonight.\nAbsence type: A",
                    mid="c5@x", in_reply_to="c4@x"))
    first, second = episodes(world)
    assert (first["absence_type"], first["status"]) == ("M", "returned")
    assert (second["absence_type"], second["status"]) == ("A", "open")


def test_a_thank_you_in_a_returned_episodes_thread_opens_no_new_episode(world):
    run(world, mail("Missing: Jordan Carter (100231)", "Jordan has not come back.", mid="t1@x"))
    run(world, mail("Re: Missing: Jordan Carter (100231)", "Jordan came home at 21:20.",
                    mid="t2@x", in_reply_to="t1@x"))
    (m3,) = run(world, mail("Re: Missing: Jordan Carter (100231)",
                            "Thanks for letting us know.", mid="t3@x", in_reply_to="t2@x"))
    assert m3.status == "processed"
    (ep,) = episodes(world)
    assert ep["status"] == "returned"
    assert ep["message_ids"] == ["t1@x", "t2@x", "t3@x"]


def _by_child(engine) -> dict[str | None, dict[str, Any]]:
    return {e["child_id"]: e for e in episodes(engine)}


def test_a_reply_about_two_children_closes_only_the_one_who_is_back(world):
    # Jordan and Alex live at Oakview; the carer reports both, then replies in the thread.
    run(world, mail("Jordan and Alex", "Jordan Carter and Alex Morgan went out at 7pm and "
                    "have not come back. Phones off.", mid="two1@x"))
    opened = _by_child(world)
    assert {opened["100231"]["status"], opened["100240"]["status"]} == {"open"}
    run(world, mail("Re: Jordan and Alex", "Alex is back, came in at 9.10pm. Still nothing from "
                    "Jordan.", mid="two2@x", in_reply_to="two1@x"))
    after = _by_child(world)
    assert after["100240"]["status"] == "returned"
    assert after["100231"]["status"] == "open"


def test_another_childs_return_in_a_childs_thread_does_not_close_it(world):
    run(world, mail("Missing: Jordan Carter (100231)", "Jordan went out at 7pm and has not "
                    "come back.", mid="j1@x"))
    # the subject names Jordan: Alex's return is Alex's own record, Jordan's stays open
    run(world, mail("Re: Missing: Jordan Carter (100231)", "Alex is back, came in at 9pm.",
                    mid="j2@x", in_reply_to="j1@x"))
    after = _by_child(world)
    assert after["100231"]["status"] == "open"
    assert after["100240"]["status"] == "returned"


def test_a_return_naming_only_another_child_in_a_thread_is_a_doubt(world):
    run(world, mail("tonight", "Jordan went out at 7pm and has not come back.", mid="k1@x"))
    run(world, mail("Re: tonight", "Alex is back now, came in at 9pm.", mid="k2@x",
                    in_reply_to="k1@x"))
    (ep,) = episodes(world)
    assert ep["child_id"] == "100231"
    assert ep["status"] == "open"
    assert ep["needs_confirmation"] is True
    assert "Alex Morgan" in ep["confirmation_reason"]
