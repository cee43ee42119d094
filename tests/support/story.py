"""A missing-and-returned story through the real pipeline, for timer and retention tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.alerts.outbox import Notifier
from mailbridge.delivery.reply_secret import reply_secret
from mailbridge.delivery.reply_tokens import make_reply_address
from mailbridge.episodes.processing import ReadingPipeline
from mailbridge.intake import Intake, make_incoming
from mailbridge.runtime.worker import Worker
from mailbridge.store.models import (
    Alert,
    DueAction,
    Episode,
    InboundMessage,
)
from mailbridge.timers.runner import Runner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


# Thursday 26 November 2026, 11:00 UTC: office hours in London.
T0 = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)


SW = "sam.patel@council.example"


CARER = "oakview@homes.example"


BASE = "missing@council.example"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, **delta: float) -> datetime:
        self.now = T0 + timedelta(**delta)
        return self.now


class Story:
    """The service's parts on one database, driven by hand."""

    def __init__(self, engine: Any, settings: Any) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = Clock()
        self.notifier = Notifier(settings)
        self.worker = Worker(engine, ReadingPipeline(settings, notifier=self.notifier),
                             settings.processing, clock=self.clock)
        self.runner = Runner(engine, self.notifier.routing, self.notifier.timed_event)
        self.secret = reply_secret(settings)
        self.n = 0

    def send(self, body: str, *, sender: str = CARER, subject: str = "Jordan (100231)",
             to: str = BASE, extra: str = "") -> InboundMessage:
        self.n += 1
        raw = (
            f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <story-{self.n}@x>\r\nDate: {format_datetime(self.clock())}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n{extra}\r\n{body}\r\n"
        ).encode()
        stored = Intake(self.engine, clock=self.clock).accept(
            make_incoming(raw, source="smtp", mail_from=sender, rcpt_tos=[to], peer=None,
                          clock=self.clock)
        )
        self.worker.run_once()
        with Session(self.engine) as s:
            return s.get_one(InboundMessage, stored.id)

    def reply_to(self, event: str, recipient: str) -> tuple[str, str]:
        """The signed Reply-To the sender puts on that alert, and its subject."""
        with Session(self.engine) as s:
            alert, ref = s.execute(
                select(Alert, Episode.reference)
                .join(Episode, Episode.id == Alert.episode_id)
                .where(Alert.event == event, Alert.recipient == recipient)
            ).one()
            return (
                make_reply_address(BASE, alert_id=alert.id, episode_ref=ref, role=alert.role,
                                   secret=self.secret),
                f"Re: {alert.subject}",
            )

    def alerts(self, **where: str) -> list[Alert]:
        with Session(self.engine) as s:
            q = select(Alert).order_by(Alert.id)
            for k, v in where.items():
                q = q.where(getattr(Alert, k) == v)
            return list(s.scalars(q))

    def pending(self) -> dict[str, str]:
        with Session(self.engine) as s:
            return {a.key: a.status for a in s.scalars(select(DueAction))}
