"""Store the listener's reply counts and tell the duty desk when our own mail is refused.

`serve` calls ``record`` on each timer tick and at stop: the counts this process gathered go
to the store (summed over every instance there), and when the 5xx refusals of mail to our own
domain in the current hour reach ``smtp.refusal_alert_threshold`` the duty desk gets one notice
for that hour (the alert's unique key holds across ticks and instances).
"""

from __future__ import annotations

import logging
from datetime import datetime

from mailbridge.alerts.outbox import Notifier
from mailbridge.ingress.replies import ReplyTally
from mailbridge.settings.config import Settings
from mailbridge.store import service, tx

log = logging.getLogger(__name__)

EVENT = "smtp_refusals"


def record(
    engine: tx.Engine, tally: ReplyTally, notifier: Notifier, settings: Settings, now: datetime
) -> int:
    """Write the pending counts; queue the hour's refusal notice if due. Returns alerts queued."""
    pending = tally.take_pending()
    hours = sorted({hour for hour, _, _ in pending})
    try:
        with tx.write(engine) as t:
            service.add_reply_counts(t, pending)
            queued = 0
            for hour in hours:
                queued += _notice(t, notifier, settings, hour, now)
    except Exception:
        tally.give_back(pending)
        raise
    return queued


def _notice(
    t: tx.Tx, notifier: Notifier, settings: Settings, hour: datetime, now: datetime
) -> int:
    threshold = settings.smtp.refusal_alert_threshold
    if threshold <= 0:
        return 0
    refused = service.own_domain_refusals(t, hour)
    total = sum(refused.values())
    if total < threshold:
        return 0
    local = hour.astimezone(settings.tz)
    queued = notifier.desk_notice(
        t,
        event=EVENT,
        key=f"{EVENT}:{hour.isoformat()}",
        now=now,
        note=f"{total} messages to our own domain refused since {local:%H:%M}",
        extra={
            "refused": str(total),
            "hour": f"{local:%d %b %Y %H:%M %Z}",
            "threshold": str(threshold),
            **{f"code {code}": str(n) for code, n in sorted(refused.items())},
        },
    )
    if queued:
        log.warning(
            "%d messages to our own domain refused this hour (threshold %d): duty desk told",
            total,
            threshold,
        )
    return queued
