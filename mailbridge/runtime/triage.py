"""One summary of the triage list for the duty desk per window, instead of an alert each.

`serve` calls ``summarise`` on each timer tick (and `due --run` does too). Windows are
`processing.triage_summary_minutes` long, aligned to midnight UTC; each finished window in the
last day that holds triage messages gets one summary (the alert's unique key holds across ticks
and instances), listing each message: number, time, sender and subject.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import default

from mailbridge.alerts.outbox import Notifier
from mailbridge.alerts.words import one_line
from mailbridge.settings.config import Settings
from mailbridge.store import triage, tx
from mailbridge.store.models import InboundMessage

EVENT = "triage_summary"
LOOK_BACK = timedelta(days=1)
LISTED = 50  # messages named in one summary; the rest are counted


def window_start(at: datetime, minutes: int) -> datetime:
    """The start of the window holding ``at``: windows of ``minutes`` from midnight UTC."""
    utc = at.astimezone(UTC)
    midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    step = timedelta(minutes=minutes)
    return midnight + step * ((utc - midnight) // step)


def summarise(engine: tx.Engine, notifier: Notifier, settings: Settings, now: datetime) -> int:
    """Queue the summaries due; returns the alert rows queued."""
    minutes = settings.processing.triage_summary_minutes
    if minutes <= 0:
        return 0
    step = timedelta(minutes=minutes)
    current = window_start(now, minutes)
    queued = 0
    with tx.write(engine) as t:
        messages = triage.waiting(t, current - LOOK_BACK, current)
        windows: dict[datetime, list[InboundMessage]] = {}
        for m in messages:
            windows.setdefault(window_start(m.received_at, minutes), []).append(m)
        keys = {start: f"{EVENT}:{start.isoformat()}" for start in windows}
        done = triage.sent_keys(t, list(keys.values()))
        for start, rows in sorted(windows.items()):
            if keys[start] in done:
                continue
            queued += notifier.desk_notice(
                t,
                event=EVENT,
                key=keys[start],
                now=now,
                note=None,
                extra=_extra(rows, start, start + step, settings),
            )
    return queued


def _extra(
    rows: list[InboundMessage], start: datetime, end: datetime, settings: Settings
) -> dict[str, str]:
    tz = settings.tz
    lines = [_line(m, settings) for m in rows[:LISTED]]
    if len(rows) > LISTED:
        lines.append(f"... and {len(rows) - LISTED} more: `mailbridge messages --triage`")
    return {
        "count": str(len(rows)),
        "window": f"{start.astimezone(tz):%d %b %Y %H:%M}-{end.astimezone(tz):%H:%M %Z}",
        "messages": "\n".join(lines),
    }


def _line(message: InboundMessage, settings: Settings) -> str:
    try:
        headers = BytesHeaderParser(policy=default).parsebytes(message.raw or b"")
        sender = one_line(headers.get("From") or message.mail_from or "no sender")
        subject = one_line(headers.get("Subject") or "(no subject)")
    except Exception:  # garbage headers: the message number is enough to find it
        sender, subject = one_line(message.mail_from or "unreadable sender"), "(unreadable)"
    local = message.received_at.astimezone(settings.tz)
    return f"message {message.id}, {local:%H:%M}, from {sender[:80]}: {subject[:100]}"
