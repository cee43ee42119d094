"""The queue figures of `mailbridge status`, /metrics and /healthz, as named queries.

The database is the truth shared by every instance, so each figure is a query at the time it
is asked for, not a counter kept in one process. Each is a count over an indexed status
column, a primary-key lookup, or a scan of the few rows still waiting. No names, addresses or
bodies leave this module: sources, statuses, events, roles, times and episode references only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

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
