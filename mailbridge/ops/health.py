"""The state of the queues, read from the database: for `mailbridge status` and /metrics.

The database is the truth shared by every instance, so each figure is a query at the time it
is asked for, not a counter kept in one process. Each query is a count over an indexed status
column, a primary-key lookup, or a scan of the few rows still waiting. No names, addresses or
bodies leave this module: sources, statuses, events, roles, times and episode references only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from mailbridge.store import service
from mailbridge.store.models import (
    FAILED,
    PENDING,
    QUEUED,
    Alert,
    DueAction,
    Episode,
    InboundMessage,
    Interview,
)

FINAL_INTERVIEW = ("completed", "declined")


@dataclass(frozen=True)
class Queues:
    pending_messages: int
    failed_messages: int
    queued_alerts: int
    failed_alerts: int
    pending_due_actions: int


@dataclass(frozen=True)
class LastMessage:
    received_at: datetime
    source: str


@dataclass(frozen=True)
class OldestAlert:
    created_at: datetime
    age_seconds: float
    event: str
    role: str
    episode: str | None


@dataclass(frozen=True)
class Snapshot:
    at: datetime
    queues: Queues
    last_message: LastMessage | None
    oldest_alert: OldestAlert | None
    overdue_interviews: list[str]
    # What the SMTP listener(s) answered in the last 24 hours, by reply code (all instances).
    smtp_replies: list[service.ReplyCount] = field(default_factory=list)


def ping(session: Session) -> None:
    """A round trip to the database; raises if it cannot be reached."""
    session.execute(text("SELECT 1"))


def message_counts(session: Session) -> list[tuple[str, str, int]]:
    """(source, status, count) of every stored message."""
    rows = session.execute(
        select(InboundMessage.source, InboundMessage.status, func.count())
        .group_by(InboundMessage.source, InboundMessage.status)
        .order_by(InboundMessage.source, InboundMessage.status)
    ).all()
    return [(source, status, int(count)) for source, status, count in rows]


def alert_counts(session: Session) -> list[tuple[str, int]]:
    """(status, count) of every alert row."""
    rows = session.execute(
        select(Alert.status, func.count()).group_by(Alert.status).order_by(Alert.status)
    ).all()
    return [(status, int(count)) for status, count in rows]


def _count(session: Session, column: Any, value: str) -> int:
    return int(session.scalar(select(func.count()).where(column == value)) or 0)


def queues(session: Session) -> Queues:
    """The counts that should stay near zero; each uses a status index."""
    return Queues(
        pending_messages=_count(session, InboundMessage.status, PENDING),
        failed_messages=_count(session, InboundMessage.status, FAILED),
        queued_alerts=_count(session, Alert.status, QUEUED),
        failed_alerts=_count(session, Alert.status, FAILED),
        pending_due_actions=_count(session, DueAction.status, "pending"),
    )


def last_message(session: Session) -> LastMessage | None:
    """The newest stored message (highest id): when, and by which door."""
    row = session.execute(
        select(InboundMessage.received_at, InboundMessage.source)
        .order_by(InboundMessage.id.desc())
        .limit(1)
    ).first()
    return LastMessage(row[0], row[1]) if row else None


def oldest_alert(session: Session, now: datetime) -> OldestAlert | None:
    """The oldest alert not yet delivered (queued, retrying included)."""
    row = session.execute(
        select(Alert.created_at, Alert.event, Alert.role, Episode.reference)
        .outerjoin(Episode, Episode.id == Alert.episode_id)
        .where(Alert.status == QUEUED)
        .order_by(Alert.created_at, Alert.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    created_at, event, role, reference = row
    age = max(0.0, (now - created_at).total_seconds())
    return OldestAlert(created_at, age, event, role, reference)


def overdue_interviews(session: Session, now: datetime) -> list[str]:
    """Episode references whose return interview is flagged overdue or past due, not done."""
    rows = session.scalars(
        select(Episode.reference)
        .join(Interview, Interview.episode_id == Episode.id)
        .where(
            Interview.status.not_in(FINAL_INTERVIEW),
            (Interview.overdue.is_(True)) | (Interview.due_at <= now),
        )
        .order_by(Interview.due_at)
    )
    return list(rows)


def snapshot(session: Session, now: datetime) -> Snapshot:
    return Snapshot(
        at=now,
        queues=queues(session),
        last_message=last_message(session),
        oldest_alert=oldest_alert(session, now),
        overdue_interviews=overdue_interviews(session, now),
        smtp_replies=service.reply_counts(session, now - timedelta(hours=24)),
    )


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """`mailbridge status --json`."""
    last = snap.last_message
    oldest = snap.oldest_alert
    return {
        "at": snap.at.isoformat(),
        "queues": {
            "pending_messages": snap.queues.pending_messages,
            "failed_messages": snap.queues.failed_messages,
            "queued_alerts": snap.queues.queued_alerts,
            "failed_alerts": snap.queues.failed_alerts,
            "pending_due_actions": snap.queues.pending_due_actions,
        },
        "last_message": (
            {"received_at": last.received_at.isoformat(), "source": last.source} if last else None
        ),
        "oldest_undelivered_alert": (
            {
                "created_at": oldest.created_at.isoformat(),
                "age_seconds": round(oldest.age_seconds, 1),
                "event": oldest.event,
                "role": oldest.role,
                "episode": oldest.episode,
            }
            if oldest
            else None
        ),
        "overdue_interviews": {
            "count": len(snap.overdue_interviews),
            "episodes": snap.overdue_interviews,
        },
        "smtp_replies_24h": {
            r.code: {"total": r.total, "own_domain": r.own_domain} for r in snap.smtp_replies
        },
    }


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def snapshot_lines(snap: Snapshot, tz: Any) -> list[str]:
    """`mailbridge status` for a terminal; times in the service's zone."""
    q = snap.queues
    lines = [
        f"messages: {q.pending_messages} pending, {q.failed_messages} failed",
        f"alerts:   {q.queued_alerts} queued, {q.failed_alerts} failed",
        f"timers:   {q.pending_due_actions} pending",
    ]
    last = snap.last_message
    if last is None:
        lines.append("last message: none yet")
    else:
        local = last.received_at.astimezone(tz)
        ago = _age((snap.at - last.received_at).total_seconds())
        lines.append(f"last message: {local:%Y-%m-%d %H:%M:%S %Z} by {last.source} ({ago} ago)")
    oldest = snap.oldest_alert
    if oldest is None:
        lines.append("oldest undelivered alert: none")
    else:
        lines.append(
            f"oldest undelivered alert: {_age(oldest.age_seconds)} old, {oldest.event} to "
            f"{oldest.role}{' for ' + oldest.episode if oldest.episode else ''}"
        )
    overdue = snap.overdue_interviews
    lines.append(
        f"overdue interviews: {len(overdue)}{' (' + ', '.join(overdue) + ')' if overdue else ''}"
    )
    lines.append(f"smtp replies (24 h): {smtp_replies_line(snap.smtp_replies)}")
    return lines


def smtp_replies_line(counts: list[service.ReplyCount]) -> str:
    """'250 x12; refused: 550 x3 (3 to our domain), 552 x1', or 'none'."""
    if not counts:
        return "none"
    fine = [f"{r.code} x{r.total}" for r in counts if r.code < "400"]
    refused = [
        f"{r.code} x{r.total}" + (f" ({r.own_domain} to our domain)" if r.own_domain else "")
        for r in counts
        if r.code >= "400"
    ]
    parts = [", ".join(fine)] if fine else []
    if refused:
        parts.append("refused: " + ", ".join(refused))
    return "; ".join(parts)
