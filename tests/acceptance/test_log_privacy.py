"""Logs at INFO carry ids, references and counts: never a child's name, date of birth, the
carers' addresses or what the mail said.

The whole story runs through the real `serve` (SMTP listener, worker, sender to a real relay
sink): a report, its alerts, the return, the interview outcome. Every record any logger
emits at INFO or above is captured and searched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.e2e import ADDRESS, fetch, mail, send, start, wait_delivered
from tests.support.env import RunningService, SettingsFactory
from tests.support.relay import Sink

CARER = "oakview@homes.example"
SW = "sam.patel@council.example"
# What must never reach a log: the child (tests/fixtures/directory.csv, 100231), the carers'
# addresses on the child's record, and phrases only the bodies hold.
SECRETS = (
    "Jordan",
    "Carter",
    "2011-03-14",
    "14/03/2011",
    CARER,
    "manager@oakview.example",
    "fox badge",
    "Marsh Lane",
    "Denise",
    "skate park",
    "older lads",
    "safety plan",
)


def records_text(records: list[logging.LogRecord]) -> list[str]:
    """What a handler could print: the formatted message, the raw args, any traceback."""
    out = []
    for r in records:
        out.append(f"{r.name}: {r.getMessage()} | {r.args!r} | {r.exc_text or ''}")
    return out


def wait_processed(url: str, mid: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = fetch(
            url, "SELECT status, reason FROM inbound_messages WHERE message_id = :m", m=mid
        )
        if rows and rows[0][0] != "pending":
            return f"{rows[0][0]}: {rows[0][1]}"
        time.sleep(0.05)
    pytest.fail(f"{mid} not processed within {timeout} s")


@pytest.mark.usefixtures("world")
def test_the_story_logs_nothing_about_the_child(
    database_url: str,
    make_settings: SettingsFactory,
    run_service: Callable[[Any], RunningService],
    relay: Sink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    svc = start(run_service, make_settings, relay)
    send(
        svc.port,
        mail(
            "privacy-1@homes.example",
            "Jordan Carter missing",
            "Jordan Carter (100231), born 14/03/2011, went out at 7pm and has not come back.\n"
            "Last seen behind the Co-op on Marsh Lane wearing a green parka with a fox badge.\n"
            "Police reference 4471 of 26/11/2026.",
            sender=CARER,
        ),
        sender=CARER,
    )
    rows = wait_delivered(database_url, relay, "privacy-1@homes.example")
    assert any(r.recipient == SW for r in rows)
    (reference,) = {
        r[0]
        for r in fetch(database_url, "SELECT reference FROM episodes WHERE child_id = '100231'")
    }

    # a time before the email, whatever the time of day the test runs
    back = (datetime.now(UTC) - timedelta(minutes=2)).astimezone(ZoneInfo("Europe/London"))
    send(
        svc.port,
        mail(
            "privacy-2@homes.example",
            f"Re: {reference} Jordan is back",
            f"Jordan Carter (100231) came home at {back:%H:%M}, safe and well. His aunt Denise "
            "brought him back from Marsh Lane.",
            sender=CARER,
        ),
        sender=CARER,
    )
    assert wait_processed(database_url, "privacy-2@homes.example").startswith("processed")
    wait_delivered(database_url, relay, "privacy-2@homes.example")

    today = datetime.now(UTC).strftime("%d/%m/%Y")
    send(
        svc.port,
        mail(
            "privacy-3@council.example",
            f"Return interview {reference}",
            f"Reference: {reference}\nResult: completed\nDate: {today}\n"
            "Interviewer: Sam Patel\nReasons for going missing: friends\n"
            "Reason notes: went to the skate park with older lads\n"
            "Risks identified: older lads at the skate park\n"
            "Actions agreed: safety plan with carers\n",
            sender=SW,
        ),
        sender=SW,
    )
    outcome = wait_processed(database_url, "privacy-3@council.example")
    assert "interview completed recorded" in outcome, outcome
    assert fetch(database_url, "SELECT status FROM episodes WHERE reference = :r", r=reference) == [
        ("returned",)
    ]

    lines = records_text([r for r in caplog.records if r.levelno >= logging.INFO])
    # The log did record the story, by id and reference: the scan below is not of nothing.
    assert any("received id=" in line for line in lines)
    assert any("processed id=" in line for line in lines)
    assert any("status=sent" in line for line in lines)
    leaks = [
        (secret, line) for line in lines for secret in SECRETS if secret.lower() in line.lower()
    ]
    assert not leaks, "\n".join(f"{s!r} in: {line}" for s, line in leaks)
    assert ADDRESS  # our own address may be logged (the listening line); carers' may not
