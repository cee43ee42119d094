"""End-to-end: a real serve, a real relay, mail sent over SMTP."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.env import RunningService, SettingsFactory
from tests.support.relay import Sink

ADDRESS = "missing@council.example"


# poll_seconds is long on purpose: alerts that arrive within seconds were woken, not polled.
E2E_TOML = """\
[processing]
poll_seconds = 30
[relay]
timeout_seconds = 5
"""


def reader(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool)


def fetch(url: str, sql: str, **params: Any) -> list[Any]:
    eng = reader(url)
    try:
        with eng.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        eng.dispose()


def wait_until_nothing_pending(database_url: str, timeout: float = 60) -> None:
    """Wait until intake has processed every stored message (workers take them in any order)."""
    deadline = time.monotonic() + timeout
    pending = -1
    while time.monotonic() < deadline:
        pending = fetch(
            database_url, "SELECT count(*) FROM inbound_messages WHERE status = 'pending'"
        )[0][0]
        if pending == 0:
            return
        time.sleep(0.25)
    pytest.fail(f"{pending} message(s) still pending after {timeout} s")


def mail(
    mid: str,
    subject: str,
    body: str,
    *,
    sender: str = "oakview@homes.example",
    extra: str = "",
) -> bytes:
    return (
        f"From: Carer <{sender}>\r\nTo: {ADDRESS}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{mid}>\r\nDate: {format_datetime(datetime.now(UTC))}\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body.replace("\n", "\r\n")
        + "\r\n"
    ).encode()


def send(port: int, raw: bytes, sender: str = "oakview@homes.example") -> float:
    """Send one message; return time.perf_counter() when the 250 came back."""
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as client:
        client.sendmail(sender, [ADDRESS], raw)
        return time.perf_counter()


def wait_delivered(url: str, sink: Sink, mid: str, timeout: float = 30) -> list[Any]:
    """Wait until the message is processed and every alert row for it is sent and at the sink."""
    deadline = time.monotonic() + timeout
    rows: list[Any] = []
    while time.monotonic() < deadline:
        status = fetch(url, "SELECT status FROM inbound_messages WHERE message_id = :m", m=mid)
        rows = fetch(
            url,
            "SELECT a.* FROM alerts a JOIN inbound_messages m ON m.id = a.inbound_id "
            "WHERE m.message_id = :m ORDER BY a.id",
            m=mid,
        )
        if status and status[0][0] != "pending" and all(r.status == "sent" for r in rows):
            at_sink = {r.message_id for r in sink.messages()}
            if all(r.message_id in at_sink for r in rows):
                return rows
        time.sleep(0.05)
    pytest.fail(f"alerts for {mid} not all delivered within {timeout} s: {rows}")


def start(
    run_service: Callable[[Any], RunningService], make_settings: SettingsFactory, sink: Sink
) -> RunningService:
    return run_service(make_settings(E2E_TOML, relay_url=sink.url))
