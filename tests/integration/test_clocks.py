"""Acknowledgement, escalation and the return-interview clock, with an injected clock.

The whole story is driven by email: a report, replies to alerts, a return, a reminder and the
interview outcome. No test sleeps.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.delivery.reply_secret import reply_secret
from mailbridge.delivery.reply_tokens import make_reply_address
from mailbridge.delivery.sender import Sender
from mailbridge.directory import csv_file
from mailbridge.store import directory
from mailbridge.store.models import (
    Acknowledgement,
    Alert,
    DueAction,
    Episode,
    InboundMessage,
    Interview,
)
from mailbridge.timers.runner import Runner
from tests.support.story import BASE, CARER, FIXTURES, SW, T0, Story

TM = "tm.north@council.example"


def partial_missing(text: str) -> str:
    """What the send-back says is missing, as its first lines put it."""
    line = next(x for x in text.splitlines() if "is missing: " in x)
    return line.split("is missing: ", 1)[1].rstrip(".")


@pytest.fixture
def story(engine, make_settings) -> Story:
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=T0, actor="test")
    return Story(engine, make_settings())


def report(story: Story) -> InboundMessage:
    return story.send("Jordan Carter (100231) has not come home since 10:00 this morning.",
                      subject="Missing: Jordan Carter (100231)")


def test_no_acknowledgement_escalates_to_the_team_manager_then_duty(story: Story) -> None:
    assert report(story).status == "processed"
    ref = story.alerts(event="missing")[0]
    assert ref.recipient
    assert {k.split(":")[0] for k in story.pending()} >= {"esc1", "esc2", "still"}

    story.runner.run_due(story.clock.at(minutes=59))
    assert story.alerts(event="escalate_team_manager") == []
    story.runner.run_due(story.clock.at(minutes=61))
    (tm,) = story.alerts(event="escalate_team_manager")
    assert tm.recipient == TM
    story.runner.run_due(story.clock.at(minutes=121))
    (duty,) = story.alerts(event="escalate_duty")
    assert duty.recipient == "duty@council.example"  # office hours: duty, not the EDT
    # Nothing escalates twice, however often the scheduler ticks.
    story.runner.run_due(story.clock.at(minutes=200))
    assert len(story.alerts(event="escalate_team_manager")) == 1
    assert len(story.alerts(event="escalate_duty")) == 1


def test_an_acknowledgement_by_reply_stops_the_next_escalation(story: Story) -> None:
    report(story)
    story.runner.run_due(story.clock.at(minutes=61))
    assert len(story.alerts(event="escalate_team_manager")) == 1

    to, subject = story.reply_to("missing", SW)
    ack = story.send("On it.", sender=SW, subject=subject, to=to)
    assert ack.status == "processed" and "acknowledged" in (ack.reason or "")
    with Session(story.engine) as s:
        (row,) = s.scalars(select(Acknowledgement))
    assert (row.role, row.address, row.at) == ("social_worker", SW, story.clock())
    assert story.pending()[f"esc2:{subject.split(']')[0].split('[')[1]}"] == "cancelled"

    story.runner.run_due(story.clock.at(minutes=200))
    assert story.alerts(event="escalate_duty") == []
    # An acknowledgement alerts nobody and sends no receipt.
    assert story.alerts(inbound_id=ack.id) == []  # type: ignore[arg-type]


def test_an_out_of_office_reply_is_not_an_acknowledgement(story: Story) -> None:
    report(story)
    to, subject = story.reply_to("missing", SW)
    ooo = story.send("I am out of the office until Monday.", sender=SW,
                     subject=f"Automatic reply: {subject}", to=to,
                     extra="Auto-Submitted: auto-replied\r\n")
    assert ooo.status == "ignored"
    with Session(story.engine) as s:
        assert list(s.scalars(select(Acknowledgement))) == []
    story.runner.run_due(story.clock.at(minutes=61))
    assert len(story.alerts(event="escalate_team_manager")) == 1


def test_a_forged_token_is_ignored_and_the_duty_desk_told(story: Story) -> None:
    report(story)
    to, subject = story.reply_to("missing", SW)
    local, _, domain = to.partition("@")
    forged = local[:-4] + ("aaaa" if not local.endswith("aaaa") else "bbbb") + "@" + domain
    msg = story.send("ACK", sender="someone@evil.example", subject=subject, to=forged)
    assert msg.status == "ignored" and "forged" in (msg.reason or "")
    with Session(story.engine) as s:
        assert list(s.scalars(select(Acknowledgement))) == []
    told = story.alerts(event="forged_token")
    assert told and {a.recipient for a in told} >= {"duty@council.example"}
    story.runner.run_due(story.clock.at(minutes=61))
    assert len(story.alerts(event="escalate_team_manager")) == 1


def test_the_carer_replying_in_the_thread_is_an_update_not_an_acknowledgement(
    story: Story,
) -> None:
    report(story)
    with Session(story.engine) as s:
        receipt = s.scalars(select(Alert).where(Alert.event == "receipt")).one()
    msg = story.send("Police have been round.", subject=f"Re: {receipt.subject}")
    assert msg.status == "processed" and (msg.reason or "").startswith("update")
    with Session(story.engine) as s:
        assert list(s.scalars(select(Acknowledgement))) == []


def test_a_return_starts_the_interview_clock_and_the_outcome_by_email_stops_it(
    story: Story,
) -> None:
    report(story)
    story.clock.at(hours=5)
    back = story.send("Jordan Carter (100231) came home at 15:30, safe and well.",
                      subject="Jordan (100231) is back")
    assert back.status == "processed"
    with Session(story.engine) as s:
        episode = s.scalars(select(Episode)).one()
        interview = s.scalars(select(Interview)).one()
        returned_at = episode.returned_at
    assert returned_at is not None
    assert interview.due_at == returned_at + timedelta(hours=72)
    pending = story.pending()
    assert all(v == "cancelled" for k, v in pending.items() if k.startswith(("esc", "still")))

    story.runner.run_due(returned_at + timedelta(hours=24, minutes=1))
    (first,) = story.alerts(event="interview_reminder")
    assert first.recipient == SW
    story.runner.run_due(returned_at + timedelta(hours=48, minutes=1))
    assert len(story.alerts(event="interview_reminder")) == 2
    story.runner.run_due(returned_at + timedelta(hours=72, minutes=1))
    overdue = story.alerts(event="interview_overdue")
    assert TM in {a.recipient for a in overdue}
    with Session(story.engine) as s:
        assert s.scalars(select(Interview)).one().overdue is True

    # An incomplete outcome goes back to the worker, naming what is missing.
    story.clock.now = returned_at + timedelta(hours=73)
    to, subject = story.reply_to("interview_overdue", SW)
    partial = story.send("Result: completed\nDate: 29/11/2026\nInterviewer: Sam Patel\n",
                         sender=SW, subject=subject, to=to)
    assert partial.status == "processed" and "incomplete" in (partial.reason or "")
    (back_to_worker,) = story.alerts(event="interview_incomplete")
    assert back_to_worker.recipient == SW and "reasons" in back_to_worker.body_text
    # Rendered from the episode's facts: what is known is said, nothing is "not stated", and
    # the worker is not taken for an unknown carer.
    text = back_to_worker.body_text
    assert "not stated" not in text and "UNVERIFIED" not in text, text
    assert "The return home interview outcome you sent for Jordan Carter is missing:" in text
    assert "Placement:              Oakview House" in text
    assert "Date of birth:          14 Mar 2011 (age 15)" in text
    assert "Missing from:           26 Nov 2026 10:00 GMT" in text
    assert "Returned:               26 Nov 2026 15:30 GMT" in text
    assert "reply to this email with the form filled in" in text
    assert back_to_worker.subject.endswith("the outcome needs " + partial_missing(text))
    Sender(story.engine, story.settings, clock=story.clock).deliver_due()
    (back_to_worker,) = story.alerts(event="interview_incomplete")
    # No relay in these settings: the alert is a file in the outbox, and says so.
    assert back_to_worker.status == "written", back_to_worker.last_error
    with Session(story.engine) as s:
        interview = s.scalars(select(Interview)).one()
        assert (interview.status, interview.sent_back) == ("due", 1)

    whole = story.send(
        "Result: completed\nDate: 29/11/2026\nInterviewer: Sam Patel\n"
        "Reasons for going missing: friends, substance use\n"
        "Risks identified: older peers at the station\nActions agreed: safety plan with carers\n",
        sender=SW, subject=subject, to=to,
    )
    assert whole.status == "processed" and "completed" in (whole.reason or "")
    with Session(story.engine) as s:
        interview = s.scalars(select(Interview)).one()
    assert interview.status == "completed"
    assert interview.reason_codes == ["friends", "substance_use"]
    assert interview.interviewer == "Sam Patel"


def test_a_restart_in_the_middle_sends_nothing_twice_and_late_actions_say_so(
    story: Story,
) -> None:
    report(story)
    story.runner.run_due(story.clock.at(minutes=61))
    # "Restart": a new runner; the service was down for three hours.
    again = Runner(story.engine, story.notifier.routing, story.notifier.timed_event)
    done = again.run_due(story.clock.at(hours=4))
    assert [p.kind for p in done] == ["escalate_duty"]
    assert done[0].late and "late" in done[0].late
    assert len(story.alerts(event="escalate_team_manager")) == 1
    assert "late" in (story.alerts(event="escalate_duty")[0].body_text)
    assert again.run_due(story.clock.at(hours=4, minutes=1)) == []


def test_two_runners_at_once_send_each_reminder_once(story: Story, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers; the concurrent case needs PostgreSQL")
    for n in range(3):
        story.send(f"Child 10023{n + 1} has not come home.", subject=f"Missing 10023{n + 1}")
    runners = [Runner(story.engine, story.notifier.routing, story.notifier.timed_event)
               for _ in range(2)]
    at = story.clock.at(hours=30)
    threads = [threading.Thread(target=r.run_due, args=(at,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    keys = [a.event_key for a in story.alerts() if a.event_key.startswith("due:")]
    assert keys and len(keys) == len(set((k, r) for k, r in
                                         ((a.event_key, a.recipient) for a in story.alerts()
                                          if a.event_key.startswith("due:"))))
    with Session(story.engine) as s:
        done = [a.key for a in s.scalars(select(DueAction).where(DueAction.status == "done"))]
    assert len(done) == len(set(done)) and len(done) >= 6


def test_the_third_episode_in_ninety_days_says_so_and_adds_the_team_manager(
    story: Story,
) -> None:
    for day in range(3):
        story.clock.at(days=day * 10)
        report(story)
        story.clock.at(days=day * 10, hours=3)
        story.send("Jordan Carter (100231) is back home, safe.", subject="Jordan back")
    first, second, third = story.alerts(event="missing", role="social_worker")
    assert "missing episode" not in second.body_text
    assert "missing episode" not in first.body_text
    assert "3rd missing episode in 90 days" in third.body_text
    with Session(story.engine) as s:
        third_ep = s.get_one(Alert, third.id).episode_id
    recipients = {a.recipient for a in story.alerts(event="missing") if a.episode_id == third_ep}
    assert TM in recipients  # added by the repeat rule, in office hours and at normal risk
    assert "ruth.okafor@council.example" in recipients
    earlier = {a.recipient for a in story.alerts(event="missing") if a.episode_id != third_ep}
    assert TM not in earlier


def test_the_story_over_smtp_escalation_then_acknowledgement(
    engine, make_settings, run_service, capsys, monkeypatch
) -> None:
    """Through the real listener: a report, an escalation, a reply to the alert over SMTP."""
    import smtplib
    import time

    from mailbridge.cli import main

    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=T0, actor="test")
    settings = make_settings("[processing]\npoll_seconds = 0.2\ntimer_seconds = 3600\n",
                             addresses=BASE)
    svc = run_service(settings)
    # The CLI reads the same store as the running service.
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MAILBRIDGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MAILBRIDGE_ADDRESSES", BASE)

    def wait(predicate: Any) -> None:
        deadline = time.monotonic() + 20
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)

    def rows(event: str) -> list[Alert]:
        with Session(engine) as s:
            return list(s.scalars(select(Alert).where(Alert.event == event)))

    with smtplib.SMTP(svc.host, svc.port) as c:
        c.sendmail(CARER, [BASE], (
            f"From: {CARER}\r\nTo: {BASE}\r\nSubject: Missing: Jordan Carter (100231)\r\n"
            "Message-ID: <smtp-story-1@x>\r\n\r\nJordan has not come home.\r\n").encode())
    wait(lambda: rows("missing"))
    opened = rows("missing")[0].created_at

    def due(minutes: int) -> None:
        at = (opened + timedelta(minutes=minutes)).isoformat()
        assert main(["--config", str(Path(settings.source)), "due", "--at", at, "--run"]) == 0

    due(61)
    assert [a.recipient for a in rows("escalate_team_manager")] == [TM]

    with Session(engine) as s:
        alert, ref = s.execute(
            select(Alert, Episode.reference).join(Episode, Episode.id == Alert.episode_id)
            .where(Alert.event == "missing", Alert.recipient == SW)).one()
    token = make_reply_address(BASE, alert_id=alert.id, episode_ref=ref, role=alert.role,
                               secret=reply_secret(settings))
    with smtplib.SMTP(svc.host, svc.port) as c:
        c.sendmail(SW, [token], (
            f"From: {SW}\r\nTo: {token}\r\nSubject: Re: {alert.subject}\r\n"
            "Message-ID: <smtp-story-2@x>\r\n\r\nOn it, calling the police now.\r\n").encode())
    wait(lambda: _acknowledged(engine))

    due(180)
    assert rows("escalate_duty") == []
    capsys.readouterr()


def _acknowledged(engine: Any) -> bool:
    with Session(engine) as s:
        return s.scalars(select(Acknowledgement)).first() is not None


def test_two_processes_running_due_at_once_send_each_reminder_once(
    story: Story, database_url: str, tmp_path: Path
) -> None:
    """`mailbridge due --run` twice, concurrently, as two processes on PostgreSQL."""
    import os
    import subprocess
    import sys

    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers; two processes at once need PostgreSQL")
    for n in range(3):
        story.send(f"Child 10023{n + 1} has not come home.", subject=f"Missing 10023{n + 1}")
    at = (T0 + timedelta(hours=49)).isoformat()
    env = {**os.environ, "MAILBRIDGE_DATABASE_URL": database_url,
           "MAILBRIDGE_DATA_DIR": str(story.settings.data_dir),
           "MAILBRIDGE_ADDRESSES": BASE}
    config = tmp_path / "empty.toml"
    config.write_text("")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mailbridge", "--config", str(config), "due", "--at", at,
             "--run"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode()[-500:] for o in outs]
    with Session(story.engine) as s:
        done = list(s.scalars(select(DueAction).where(DueAction.status == "done")))
        timed = list(s.scalars(select(Alert).where(Alert.event_key.like("due:%"))))
    # Three episodes: esc1, esc2 and two still-missing reminders each by 49 h.
    assert len(done) == 12
    assert len({a.key for a in done}) == 12
    assert len({(a.event_key, a.recipient) for a in timed}) == len(timed)
    assert {a.event_key for a in timed} == {f"due:{a.key}" for a in done}
