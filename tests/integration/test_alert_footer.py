"""Every alert to staff about an episode ends with two lines: how to acknowledge it (reply) and
who is told, and when, if nobody does (from the routing file's escalation rules), then the
email commands. Rendered by the real pipeline (intake, worker, timers) on both databases.

Alerts that are not to staff about an episode have no acknowledgement to ask for: the carer's
receipt, the police and host authority (outside the council), and the duty desk's notices
about mail that is no report (not_a_report, failed, refusals, triage summaries).
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import Engine

from mailbridge.delivery.sender import UNTOKENED_ROLES
from mailbridge.runtime.serve import make_runner, make_workers
from mailbridge.store.models import Alert
from tests.support.env import SettingsFactory
from tests.support.relay import (
    RECEIVED,
    FakeClock,
    alerts,
    import_fixture_directory,
    queue_alerts,
    report,
    store,
)

COMMANDS = (
    "Or start your reply with a command: RETURNED 14:30, VOID reason, CHILD 100231, CONFIRM "
    "or RISK HIGH."
)
# RECEIVED is Thu 26 Nov 2026 11:00 GMT, in office hours; the report states no risk, so the
# shipped escalation rules (team_manager_after_minutes default 60, duty_after_minutes
# default 120) tell the team manager at 12:00 and the duty desk at 13:00.
AT_FIRST = (
    "Reply to this email to acknowledge it. If nobody does, the team manager is told at "
    "Thu 26 Nov 2026 12:00 GMT, then the duty desk is told at Thu 26 Nov 2026 13:00 GMT."
)
BACK = (
    "Reply to this email to acknowledge it. The child is back, so nobody else is told if nobody "
    "does."
)
AFTER_STEP_1 = (
    "Reply to this email to acknowledge it. If nobody does, the duty desk is told at "
    "Thu 26 Nov 2026 13:00 GMT."
)


def staff_alerts(engine: Engine) -> list[Alert]:
    return [a for a in alerts(engine) if a.episode_id and a.role not in UNTOKENED_ROLES]


def html_text(body: str) -> str:
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
    return re.sub(r" ([,.])", r"\1", text)


def footer(body: str) -> list[str]:
    """The lines after what the sender wrote, up to the role line."""
    lines = body.splitlines()
    start = max(
        (i for i, line in enumerate(lines) if line.startswith("WHAT THE SENDER")), default=0
    )
    end = next(i for i, line in enumerate(lines) if line.startswith("You receive this as"))
    return [line for line in lines[start:end] if line.startswith(("Reply to this", "Or start"))]


def test_every_staff_alert_says_how_to_acknowledge_who_is_told_and_when(
    engine: Engine, make_settings: SettingsFactory
) -> None:
    import_fixture_directory(engine, now=RECEIVED - timedelta(days=1))
    settings = make_settings()
    clock = FakeClock(RECEIVED)
    queue_alerts(engine, settings, clock, report(1))
    first = staff_alerts(engine)
    assert {a.role for a in first} >= {"social_worker", "iro", "apprentice"}
    for alert in first:
        assert footer(alert.body_text) == [AT_FIRST, COMMANDS], alert.role
        got = html_text(alert.body_html)
        assert f"{AT_FIRST} {COMMANDS}" in got, got[got.find("Reply") - 40 :]

    # Nobody replies: at 12:00 the team manager is told, and their alert says what comes next.
    runner = make_runner(engine, settings)
    assert runner.run_due(RECEIVED + timedelta(minutes=61))
    escalated = [a for a in staff_alerts(engine) if a.id not in {f.id for f in first}]
    assert [a.role for a in escalated] == ["team_manager"]
    assert footer(escalated[0].body_text) == [AFTER_STEP_1, COMMANDS]

    # The child comes back: the RETURNED alerts say nobody else will be told.
    clock.advance(minutes=70)
    store(
        engine,
        report(2, body="Jordan Carter (100231) returned home at 12:05. He is safe and well."),
        clock(),
    )
    worker, _sender = make_workers(engine, settings, clock=clock)
    assert worker.run_once() == 1
    known = {f.id for f in first} | {e.id for e in escalated}
    back = [a for a in staff_alerts(engine) if a.id not in known]
    assert back and {a.event for a in back} == {"returned"}
    for alert in back:
        assert footer(alert.body_text) == [BACK, COMMANDS], alert.role

    # The receipt to the carer asks for nothing of the kind.
    receipts = [a for a in alerts(engine) if a.role == "reporter"]
    assert receipts and all("acknowledge" not in a.body_text for a in receipts)
