"""Helpers of the IMAP tests: a report to APPEND, the watcher's settings, and what the store
and the mailbox hold."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.support.dovecot import Dovecot

ADDRESS = "missing@council.example"


# Fast reconnects and worker polling, so failures and restarts play out in seconds.
PROCESSING = """\
[processing]
lease_seconds = 2
retry_delay_seconds = 1
poll_seconds = 0.2
"""


IMAP_DEFAULTS: dict[str, Any] = {
    "backoff_seconds": 0.2,
    "max_backoff_seconds": 1.0,
    "lock_retry_seconds": 0.3,
}


def imap_toml(url: str, **overrides: Any) -> str:
    """Settings as an operator writes them: [processing] sped up, and an [imap] table."""
    values = {"url": url, **IMAP_DEFAULTS, **overrides}
    lines = [PROCESSING, "[imap]"]
    for key, value in values.items():
        rendered = f'"{value}"' if isinstance(value, str) else str(value).lower()
        lines.append(f"{key} = {rendered}")
    return "\n".join(lines) + "\n"


def report(n: int, tag: str) -> bytes:
    """A missing-child report from a carer of its own, so each one opens its own episode."""
    return (
        f"From: Carer {n} <carer{n}.{tag}@homes.example>\r\n"
        f"To: {ADDRESS}\r\n"
        f"Subject: Missing child report {n}\r\n"
        f"Message-ID: <imap-{tag}-{n}@carer.example>\r\n"
        "Date: Thu, 26 Nov 2026 21:30:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Jordan Smith has not come home. Last seen at 21:00 near the park. Report {n}.\r\n"
    ).encode()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` is true; fail naming ``what`` after ``timeout``."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def imap_rows(engine: Engine) -> int:
    return int(scalar(engine, "SELECT count(*) FROM inbound_messages WHERE source = 'imap'"))


def folder_count(dovecot: Dovecot, user: str, folder: str) -> int:
    client = dovecot.client(user)
    try:
        if not client.folder_exists(folder):
            return 0
        return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
    finally:
        client.logout()
