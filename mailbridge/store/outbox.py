"""The one gateway for SQL about the outbox: claiming alert rows in lane order, leases, lanes.

The sender (delivery/sender.py) claims due rows lane first (1, 2, 3), then by due time, with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so instances never take the same row; every few claims
it takes the oldest due rows of any lane (``by_lane=False``) so no lane starves. An alert's lane
is its message's lane: declared with ``write_lane`` before the rows are written, which then
carry it from their INSERT (``inherit_lane`` has nothing left to do), or set afterwards by
``inherit_lane``'s UPDATE, in the transaction that wrote the rows.
``alerts/outbox.py`` writes the rows through ``insert_rows`` (idempotent per event and
recipient) and counts an event's rows with ``count_for_key``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mailbridge.store import inbound, sql
from mailbridge.store.models import FAILED, QUEUED, Alert, Episode, InboundMessage
from mailbridge.store.sql import insert_ignore

DEFAULT_LANE = 2
_WRITE_LANE = "mailbridge.write_lane"  # session.info key: (inbound id, lane) for insert_rows


def write_lane(session: Session, *, inbound_id: int, lane: int) -> None:
    """The rows this transaction writes for message ``inbound_id`` get ``lane`` as they are
    inserted, so ``inherit_lane`` need not UPDATE them afterwards (one statement a message)."""
    session.info[_WRITE_LANE] = (inbound_id, lane)


def inherit_lane(session: Session, *, inbound_id: int, lane: int) -> None:
    """The queued alerts of a message take its lane (a no-op for the default lane).

    Also a no-op when ``write_lane`` declared this lane for this transaction: its rows were
    inserted with it, and a row of the message written before this transaction was written
    by an earlier processing of it, which gave it the same lane (a stored message's lane is
    fixed at intake).
    """
    if lane == DEFAULT_LANE or session.info.get(_WRITE_LANE) == (inbound_id, lane):
        return
    session.execute(
        update(Alert)
        .where(Alert.inbound_id == inbound_id, Alert.status == QUEUED, Alert.lane != lane)
        .values(lane=lane)
    )


def claim(
    session: Session,
    *,
    now: datetime,
    until: datetime,
    limit: int,
    by_lane: bool = True,
) -> list[int]:
    """Take up to ``limit`` due rows, count the attempt and hold them until ``until``."""
    query = select(Alert).where(Alert.status == QUEUED, Alert.next_attempt_at <= now)
    if by_lane:
        query = query.order_by(Alert.lane, Alert.next_attempt_at, Alert.id)
    else:
        query = query.order_by(Alert.next_attempt_at, Alert.id)
    rows = sql.claim(session, query, limit=limit)
    for row in rows:
        row.attempts += 1
        row.next_attempt_at = until
    return [r.id for r in rows]


def renew(session: Session, ids: Sequence[int], *, held_until: datetime, until: datetime) -> None:
    """Extend the hold on the rows of ``ids`` still queued at our lease."""
    session.execute(
        update(Alert)
        .where(
            Alert.id.in_(list(ids)),
            Alert.status == QUEUED,
            Alert.next_attempt_at == held_until,
        )
        .values(next_attempt_at=until)
    )


def give_back(
    session: Session, ids: Sequence[int], *, held_until: datetime, now: datetime
) -> None:
    """Claims never tried: un-count the attempt and make them due now, unless another
    instance took them over since (their lease is no longer ours)."""
    rows = session.scalars(
        select(Alert).where(Alert.id.in_(list(ids)), Alert.status == QUEUED).with_for_update()
    )
    for alert in rows:
        if alert.next_attempt_at == held_until:
            alert.attempts -= 1
            alert.next_attempt_at = now


def next_due(session: Session) -> datetime | None:
    """When the next queued row is due (None: nothing queued)."""
    return session.scalar(
        select(Alert.next_attempt_at)
        .where(Alert.status == QUEUED)
        .order_by(Alert.next_attempt_at)
        .limit(1)
    )


def to_build(
    session: Session, ids: Sequence[int]
) -> list[tuple[Alert, str | None, datetime | None]]:
    """The claimed rows with their episode's reference and their message's arrival time."""
    return list(
        session.execute(
            select(Alert, Episode.reference, InboundMessage.received_at)
            .outerjoin(Episode, Episode.id == Alert.episode_id)
            .outerjoin(InboundMessage, InboundMessage.id == Alert.inbound_id)
            .where(Alert.id.in_(list(ids)))
            .order_by(Alert.id)
        ).tuples()
    )


def original(session: Session, inbound_id: int) -> bytes | None:
    """The raw bytes of the message an alert attaches (None once purged)."""
    return session.scalar(select(InboundMessage.raw).where(InboundMessage.id == inbound_id))


def lock_many(session: Session, ids: Sequence[int]) -> dict[int, Alert]:
    """The alert rows of ``ids``, locked for this transaction, in one statement (id order)."""
    rows = session.scalars(
        select(Alert).where(Alert.id.in_(list(ids))).order_by(Alert.id).with_for_update()
    )
    return {row.id: row for row in rows}


def requeue_failed(session: Session, *, now: datetime, actor: str) -> int:
    """Failed rows go round again, same Message-ID, fresh tries; one audit row each."""
    rows = list(session.scalars(select(Alert).where(Alert.status == FAILED)))
    for alert in rows:
        alert.status = QUEUED
        alert.attempts = 0
        alert.next_attempt_at = now
        audit(
            session, alert, "requeue", actor=actor, at=now, detail={"last_error": alert.last_error}
        )
    return len(rows)


def audit(
    session: Session, alert: Alert, action: str, *, actor: str, at: datetime, detail: dict[str, Any]
) -> None:
    """One audit row about the alert (entity ``alert``, its id)."""
    inbound.audit(
        session,
        at=at,
        actor=actor,
        entity="alert",
        entity_id=alert.id,
        action=action,
        detail=detail,
    )


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Alert rows in one statement; a row whose (event_key, recipient) exists is skipped, so a
    replayed event inserts nothing."""
    if not rows:
        return
    declared = session.info.get(_WRITE_LANE)
    if declared is not None:
        inbound_id, lane = declared
        rows = [{**r, "lane": lane if r.get("inbound_id") == inbound_id else DEFAULT_LANE}
                for r in rows]
    # executemany of one cached statement; a multi-row VALUES would be compiled every time.
    session.execute(insert_ignore(session, Alert, key=["event_key", "recipient"]), list(rows))


def count_for_key(session: Session, event_key: str) -> int:
    """How many alert rows the event ``event_key`` has (all recipients, any status)."""
    return int(
        session.scalar(select(func.count()).select_from(Alert).where(Alert.event_key == event_key))
        or 0
    )
