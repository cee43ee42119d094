"""A real SMTP sink relay, a fake clock and alert helpers for delivery tests."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailbridge.delivery.sender import (
    Sender,
)
from mailbridge.directory import csv_file
from mailbridge.intake import Intake, make_incoming
from mailbridge.runtime.serve import make_workers
from mailbridge.store import directory
from mailbridge.store.models import Alert

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


ADDRESS = "missing@council.example"


CARER = "oakview@homes.example"


# A Thursday in November, 11:00 in London (GMT): office hours, so no EDT.
RECEIVED = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    at: float  # time.perf_counter() when the sink answered 250

    @property
    def headers(self) -> Message:
        return BytesHeaderParser().parsebytes(self.content)

    @property
    def message_id(self) -> str:
        return str(self.headers["Message-ID"]).strip().strip("<>")

    def parsed(self) -> EmailMessage:
        msg = email.message_from_bytes(self.content, policy=default_policy)
        assert isinstance(msg, EmailMessage)
        return msg


# (recipient) -> a reply such as "550 5.1.1 no such user", or None to accept
RcptPolicy = Callable[[str], "str | None"]


# (Message-ID, how many times this Message-ID has reached DATA) -> a reply, or None to accept
DataPolicy = Callable[[str, int], "str | None"]


@dataclass
class SinkHandler:
    rcpt_policy: RcptPolicy | None = None
    data_policy: DataPolicy | None = None
    delay: float = 0.0  # seconds to hold each message before answering 250
    received: list[Received] = field(default_factory=list)
    data_attempts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.rcpt_policy(address) if self.rcpt_policy else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        mid = str(BytesHeaderParser().parsebytes(content)["Message-ID"]).strip().strip("<>")
        with self.lock:
            self.data_attempts[mid] += 1
            attempt = self.data_attempts[mid]
        reply = self.data_policy(mid, attempt) if self.data_policy else None
        if reply:
            return reply
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.arrived:
            self.received.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    content,
                    time.perf_counter(),
                )
            )
            self.arrived.notify_all()
        return "250 OK"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sink:
    """An aiosmtpd relay on localhost that records what it accepted."""

    def __init__(self, port: int | None = None, **handler: Any) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler(**handler)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> Sink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.handler.arrived:
            while len(self.handler.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.handler.arrived.wait(left)
            return list(self.handler.received)

    def by_message_id(self) -> Counter[str]:
        return Counter(r.message_id for r in self.messages())


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def import_fixture_directory(engine: Engine, now: datetime = RECEIVED) -> None:
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=now, actor="test")


def report(
    n: int = 1,
    *,
    sender: str = CARER,
    body: str = "Jordan Carter (100231) has not come home. Last seen at 10:30 near the park.",
    extra: str = "",
) -> bytes:
    return (
        f"From: Oakview Carer <{sender}>\r\nTo: {ADDRESS}\r\n"
        f"Subject: Missing child report {n}\r\nMessage-ID: <delivery-{n}@homes.example>\r\n"
        f"Date: {format_datetime(RECEIVED - timedelta(minutes=5))}\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def store(engine: Engine, raw: bytes, at: datetime = RECEIVED) -> int:
    stored = Intake(engine).accept(
        make_incoming(
            raw, source="smtp", mail_from=CARER, rcpt_tos=[ADDRESS], peer=None, clock=lambda: at
        )
    )
    return stored.id


def queue_alerts(engine: Engine, settings: Any, clock: FakeClock, *raws: bytes) -> Sender:
    """Store and process the reports; return the wired sender (nothing sent yet)."""
    for raw in raws:
        store(engine, raw)
    worker, sender = make_workers(engine, settings, clock=clock)
    assert worker.run_once() == len(raws)
    return sender


def alerts(engine: Engine) -> list[Alert]:
    with Session(engine) as s:
        return list(s.scalars(select(Alert).order_by(Alert.id)))


def by_recipient(engine: Engine) -> dict[str, Alert]:
    rows = alerts(engine)
    table = {a.recipient: a for a in rows}
    assert len(table) == len(rows), "one recipient alerted twice for one event"
    return table
