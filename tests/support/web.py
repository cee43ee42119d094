"""Shared set-up for the web app tests: a store with the fixture directory and real reports,
the app on a real uvicorn server, and a signed-in HTTP client."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailbridge.alerts.outbox import Notifier
from mailbridge.directory import csv_file
from mailbridge.episodes.processing import ReadingPipeline
from mailbridge.intake import Intake, make_incoming
from mailbridge.runtime.worker import Worker
from mailbridge.settings.config import Settings
from mailbridge.store import accounts as accounts_sql
from mailbridge.store import directory
from mailbridge.store.models import InboundMessage
from mailbridge.web import auth
from mailbridge.web.server import WebServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Thursday 26 November 2026, 11:00 UTC: office hours in London.
T0 = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
BASE = "missing@council.example"
CARER = "oakview@homes.example"  # Jordan Carter's (100231) children's home
SAM = "sam.patel@council.example"  # social worker of 100231 and 100234
AMY = "amy.jones@council.example"  # social worker of 100232
PASSWORD = "a long enough password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class World:
    """The fixture directory, the reading pipeline driven by hand, and accounts to sign in."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = Clock()
        self.worker = Worker(
            engine,
            ReadingPipeline(settings, notifier=Notifier(settings)),
            settings.processing,
            clock=self.clock,
        )
        self.n = 0
        with Session(engine) as s, s.begin():
            parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text("utf-8"))
            directory.import_directory(s, parsed, now=T0, actor="test")

    def send_raw(self, raw: bytes, *, sender: str = CARER) -> InboundMessage:
        stored = Intake(self.engine, clock=self.clock).accept(
            make_incoming(
                raw, source="smtp", mail_from=sender, rcpt_tos=[BASE], peer=None, clock=self.clock
            )
        )
        self.worker.run_once()
        with Session(self.engine) as s:
            return s.get_one(InboundMessage, stored.id)

    def send(self, body: str, *, subject: str, sender: str = CARER) -> InboundMessage:
        self.n += 1
        raw = (
            f"From: <{sender}>\r\nTo: <{BASE}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <web-{self.n}@x>\r\nDate: {format_datetime(self.clock())}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        ).encode()
        return self.send_raw(raw, sender=sender)

    def add_user(self, name: str, role: str, email: str | None = None) -> None:
        with Session(self.engine) as s, s.begin():
            accounts_sql.add_account(
                s,
                username=name,
                role=role,
                email=email,
                display_name=None,
                password_hash=auth.hash_password(PASSWORD),
                now=self.clock(),
            )

    @contextmanager
    def web(self) -> Iterator[str]:
        server = WebServer(self.settings, self.engine, clock=self.clock)
        host, port = server.start()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def hidden(html: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name} field"
    return found.group(1)


def login(base: str, username: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": hidden(form.text)},
    )
    assert response.status_code == 303, response.text
    assert "mb_session" in client.cookies
    return client


def references(html: str) -> list[str]:
    return re.findall(r'href="/episodes/(MB-\d{4}-\d{5})"', html)


def post(client: httpx.Client, path: str, data: dict[str, Any], *, page: str) -> httpx.Response:
    """A form post with the CSRF token read from ``page``, as the browser sends it."""
    token = hidden(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token})


def audited(engine: Engine, *actions: str) -> list[tuple[str, str, str, str, Any]]:
    """(action, actor, entity, entity_id, detail) of the audit lines with these actions."""
    from mailbridge.store.models import AuditEntry

    with Session(engine) as s:
        rows = s.query(AuditEntry).filter(AuditEntry.action.in_(actions)).order_by(AuditEntry.id)
        return [(a.action, a.actor, a.entity, a.entity_id, a.detail) for a in rows]
