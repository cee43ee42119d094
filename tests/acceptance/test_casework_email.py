"""Email commands through the real SMTP listener, with real signed Reply-To addresses.

The night manager of a home the directory does not know reports "Kai Morgan" missing; the duty
desk replies CHILD 100235 to the unmatched alert, the child's social worker replies RETURNED with
a time, and so on. Forged and expired tokens are refused and the duty desk told; the carer who
reported cannot void (a carer has no staff token: their mail is read as a report).
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from mailbridge.delivery.reply_secret import reply_secret
from mailbridge.delivery.reply_tokens import make_reply_address
from mailbridge.directory import csv_file
from mailbridge.store import directory
from mailbridge.store.models import Alert, Episode, InboundMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BASE = "missing@council.example"
DUTY = "duty@council.example"
SW = "daniel.reid@council.example"  # Kai Thompson's (100235) social worker
NIGHT_MANAGER = "ravi@oakwood-house.example.co.uk"
LONDON_TZ = "Europe/London"


class Mailroom:
    """The running service, and the people who write to it over SMTP."""

    def __init__(self, engine: Engine, settings: Any, host: str, port: int) -> None:
        self.engine, self.settings, self.host, self.port = engine, settings, host, port
        self.n = 0

    def send(self, sender: str, to: str, subject: str, body: str, **headers: str) -> str:
        """Send over SMTP, wait for it to be processed: its status and reason."""
        self.n += 1
        mid = f"casework-{self.n}-{time.monotonic_ns()}@mail.example"
        extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
        raw = (
            f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\n"
            f"Date: {format_datetime(datetime.now(UTC))}\r\n{extra}"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{body}\r\n"
        ).encode()
        with smtplib.SMTP(self.host, self.port) as client:
            client.sendmail(sender, [to], raw)
        self.wait(lambda: self.status(mid) not in (None, "pending"))
        return self.status(mid) or ""

    def wait(self, predicate: Callable[[], Any]) -> None:
        deadline = time.monotonic() + 30
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)

    def status(self, message_id: str) -> str | None:
        with Session(self.engine) as s:
            row = s.scalars(
                select(InboundMessage).where(InboundMessage.message_id == message_id)
            ).first()
            if row is None:
                return None
            return "pending" if row.status == "pending" else f"{row.status}: {row.reason}"

    def alerts(self, **where: Any) -> list[Alert]:
        with Session(self.engine) as s:
            q = select(Alert).order_by(Alert.id)
            for k, v in where.items():
                q = q.where(getattr(Alert, k) == v)
            return list(s.scalars(q))

    def episode(self) -> Episode:
        with Session(self.engine) as s:
            return s.scalars(select(Episode).order_by(Episode.id)).first()  # type: ignore[return-value]

    def token(self, alert: Alert) -> str:
        ref = self.episode().reference
        return make_reply_address(
            BASE,
            alert_id=alert.id,
            episode_ref=ref,
            role=alert.role,
            secret=reply_secret(self.settings),
        )

    def command(self, sender: str, alert: Alert, line: str) -> tuple[str, str]:
        """Reply to ``alert`` through its Reply-To with ``line`` first; (outcome, answer text)."""
        before = len(self.alerts(event="command_answer"))
        status = self.send(
            sender,
            self.token(alert),
            f"Re: {alert.subject}",
            f"{line}\r\n\r\nPriya\r\n\r\n> {alert.body_text.splitlines()[0]}",
            In_Reply_To=f"<{alert.message_id}>",
        )
        answers = self.alerts(event="command_answer")
        new = answers[before:]
        return status, (new[0].body_text if new else "")


def the_report() -> str:
    """The night manager's email (tests/fixtures/reports/unknown_child_home.eml), sent now: its
    sighting an hour before now, so the reading does not depend on the time of day."""
    text = (FIXTURES / "reports" / "unknown_child_home.eml").read_text(encoding="utf-8")
    seen = (datetime.now(UTC) - timedelta(hours=1)).astimezone(ZoneInfo(LONDON_TZ))
    body = text.split("\n\n", 1)[1]
    assert "at 21:50" in body
    return body.replace("at 21:50", f"at {seen:%H:%M}")


def start(engine: Engine, make_settings: Any, run_service: Any) -> Mailroom:
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=datetime.now(UTC), actor="test")
    settings = make_settings(
        "[processing]\npoll_seconds = 0.2\ntimer_seconds = 3600\n", addresses=BASE
    )
    svc = run_service(settings)
    room = Mailroom(engine, settings, svc.host, svc.port)
    room.send(
        f"Ravi Patel <{NIGHT_MANAGER}>",
        BASE,
        "young person missing from Oakwood House",
        the_report(),
    )
    room.wait(lambda: room.alerts(event="unmatched", recipient=DUTY))
    return room


def test_staff_run_casework_by_replying_to_alerts(
    engine: Engine, make_settings: Any, run_service: Any
) -> None:
    room = start(engine, make_settings, run_service)
    ref = room.episode().reference
    unmatched = room.alerts(event="unmatched", recipient=DUTY)[0]

    # the carer who reported cannot void: their mail is a report, whatever its first line says
    status = room.send(
        NIGHT_MANAGER,
        BASE,
        f"Re: young person missing from Oakwood House {ref}",
        "VOID not one of ours\r\n\r\nSorry, he is not one of yours, he was placed by Kent.",
    )
    assert status.startswith("processed: update")
    assert room.episode().status == "open"
    assert room.alerts(event="command_answer") == []

    # the duty desk links it: CHILD, answered by email; the child's staff get the late alert
    status, answer = room.command(DUTY, unmatched, "CHILD 100235")
    assert status.startswith("processed: command child")
    assert f"{ref} linked to child 100235 by Duty desk" in answer
    assert "Daniel Reid <daniel.reid@council.example> (social worker) - missing" in answer
    assert room.episode().child_id == "100235"
    late = room.alerts(event="missing", recipient=SW)
    assert late and "Matched late by Duty desk" in late[0].body_text

    # the social worker closes it from their alert: a return before the sighting is refused
    seen = room.episode().last_seen_at
    assert seen is not None
    tz = ZoneInfo(LONDON_TZ)
    too_early = (seen - timedelta(minutes=5)).astimezone(tz).strftime("%H:%M")
    status, answer = room.command(SW, late[0], f"RETURNED {too_early}")
    assert "refused" in status
    assert f"RETURNED {too_early}: not done. a return at" in answer
    assert "before the last sighting" in answer
    assert room.episode().status == "open"

    back = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    hhmm = back.astimezone(tz).strftime("%H:%M")
    status, answer = room.command(SW, late[0], f"RETURNED {hhmm}")
    assert status.startswith("processed: command returned")
    assert answer.splitlines()[2] == f"{ref} closed at {hhmm} by Daniel Reid"
    ep = room.episode()
    assert (ep.status, ep.returned_at) == ("returned", back)
    # the duty desk, told before, is told of the return (routed as if a carer had said so)
    assert room.alerts(event="returned", recipient=DUTY)

    # RISK and CONFIRM
    status, answer = room.command(SW, late[0], "RISK HIGH")
    assert f"{ref} risk_level: (none) -> high" in answer
    assert room.episode().risk_level == "high"
    with Session(engine) as s, s.begin():
        s.execute(update(Episode).values(needs_confirmation=True, confirmation_reason="unsure"))
    status, answer = room.command(SW, late[0], "Confirm")
    assert f"{ref} confirmed by Daniel Reid" in answer
    assert room.episode().needs_confirmation is False

    # and VOID, by the duty desk through its first alert; the history says who and how
    status, answer = room.command(DUTY, unmatched, "VOID not one of ours")
    assert f"{ref} void by Duty desk: not one of ours" in answer
    ep = room.episode()
    assert (ep.status, ep.void_reason) == ("void", "not one of ours")


def test_forged_and_expired_tokens_are_refused_and_the_duty_desk_told(
    engine: Engine, make_settings: Any, run_service: Any
) -> None:
    room = start(engine, make_settings, run_service)
    unmatched = room.alerts(event="unmatched", recipient=DUTY)[0]
    good = room.token(unmatched)
    local, _, domain = good.partition("@")
    forged = f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"
    status = room.send(DUTY, forged, f"Re: {unmatched.subject}", "VOID test")
    assert status.startswith("ignored: forged reply token")
    assert room.episode().status == "open"
    assert room.alerts(event="forged_token", recipient=DUTY)
    assert room.alerts(event="command_answer") == []

    with Session(engine) as s, s.begin():
        s.execute(
            update(Alert)
            .where(Alert.id == unmatched.id)
            .values(created_at=datetime.now(UTC) - timedelta(days=31))
        )
    status, answer = room.command(DUTY, unmatched, "VOID spam")
    assert status.startswith("processed: command through an expired token")
    assert "VOID spam: not done. This alert was sent 31 days ago" in answer
    assert "The duty desk has been told." in answer
    assert room.episode().status == "open"
    assert len(room.alerts(event="stale_token", recipient=DUTY)) == 1
