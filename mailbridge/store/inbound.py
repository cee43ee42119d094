"""The one gateway for SQL about inbound messages: insert with dedupe, claim, finish, list.

Every statement here runs the same on SQLite and PostgreSQL. Claiming uses
``FOR UPDATE SKIP LOCKED`` (a no-op on SQLite, where BEGIN IMMEDIATE serialises writers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, insert, or_, select, text, update
from sqlalchemy.orm import Session, undefer

from mailbridge.errors import InvalidRequestError, NotFoundError, StorageError
from mailbridge.reading.lanes import HeaderFacts
from mailbridge.store import sql
from mailbridge.store.models import (
    FAILED,
    IGNORED,
    PENDING,
    AuditEntry,
    InboundMessage,
)

# The tables as Core sees them: intake inserts whole batches without building ORM objects.
_MESSAGES = cast(Table, InboundMessage.__table__)
_AUDIT = cast(Table, AuditEntry.__table__)


@dataclass(frozen=True)
class Incoming:
    """A message as an ingress hands it over: raw bytes plus the envelope."""

    raw: bytes
    mail_from: str | None
    rcpt_tos: list[str]
    source: str  # smtp / imap / inject
    peer: str | None
    received_at: datetime
    message_id: str | None
    sha256: str
    # The priority lane (reading/lanes.py); intake decides it just before the insert.
    lane: int = 2
    # The header facts the lane is decided from, read once with the Message-ID.
    facts: HeaderFacts | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Stored:
    id: int
    duplicate_of: int | None

    @property
    def status(self) -> str:
        return IGNORED if self.duplicate_of is not None else PENDING


def dedupe_key(incoming: Incoming) -> str:
    """Message-ID when there is one, else the content hash (DESIGN invariant 3)."""
    if incoming.message_id:
        return "m:" + hashlib.sha256(incoming.message_id.encode("utf-8", "replace")).hexdigest()
    return "c:" + incoming.sha256


def audit(
    session: Session,
    *,
    at: datetime,
    actor: str,
    entity: str,
    entity_id: object,
    action: str,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=at,
            actor=actor,
            entity=entity,
            entity_id=str(entity_id),
            action=action,
            detail=detail,
        )
    )


def insert_batch(session: Session, items: Sequence[Incoming]) -> list[Stored]:
    """Store each message; a repeat becomes an ignored row pointing at its original.

    The unique dedupe key, not a prior SELECT, decides who was first, so concurrent
    instances on PostgreSQL cannot both win. A batch costs a handful of statements, not a
    few per message: one multi-row ``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING``
    for the first message of each key in the batch, one SELECT for the originals of keys the
    database refused, one insert of the duplicate rows, one insert of the audit rows. The
    caller's transaction makes it all or nothing. Results come back in input order.
    """
    if not items:
        return []
    keys = [dedupe_key(item) for item in items]
    first_at: dict[str, int] = {}
    for index, key in enumerate(keys):
        first_at.setdefault(key, index)

    # 1. The first message of each key in this batch, in input order: the database decides.
    if session.get_bind().dialect.name == "postgresql":
        _lock_keys(session, keys)
    claim_stmt = sql.insert_ignore(session, _MESSAGES, key=["dedupe_key"]).returning(
        _MESSAGES.c.id, _MESSAGES.c.dedupe_key
    )
    firsts = sorted(first_at.values())
    won: dict[str, int] = {
        key: new_id
        for new_id, key in session.execute(
            claim_stmt,
            [{**_row_values(items[i]), "dedupe_key": keys[i], "status": PENDING} for i in firsts],
        )
    }

    # 2. Keys the database refused were stored before (or by a concurrent instance).
    original_of: dict[str, int] = dict(won)
    refused = [keys[i] for i in firsts if keys[i] not in won]
    if refused:
        found = dict(
            session.execute(
                select(InboundMessage.dedupe_key, InboundMessage.id).where(
                    InboundMessage.dedupe_key.in_(refused)
                )
            ).all()
        )
        missing = [key for key in refused if key not in found]
        if missing:
            # The conflicting row vanished between the insert and the read (a purge, say):
            # fail the batch so the sender retries, rather than guess.
            raise StorageError(f"original of {len(missing)} duplicate(s) not found")
        original_of.update({key: original for key, original in found.items() if key})

    # 3. Every other message becomes an ignored row that keeps its bytes, in input order.
    dup_indexes = [i for i, key in enumerate(keys) if won.get(key) is None or first_at[key] != i]
    dup_ids: dict[int, int] = {}
    if dup_indexes:
        # Ids must match their messages; on SQLite this runs one row per statement (duplicates
        # are rare), on PostgreSQL as one ordered multi-row insert.
        dup_stmt = insert(_MESSAGES).returning(_MESSAGES.c.id, sort_by_parameter_order=True)
        params = []
        for i in dup_indexes:
            original = original_of[keys[i]]
            params.append(
                {
                    **_row_values(items[i]),
                    "dedupe_key": None,
                    "status": IGNORED,
                    "reason": f"duplicate of message {original}",
                    "duplicate_of": original,
                    "finished_at": items[i].received_at,
                }
            )
        new_ids = session.execute(dup_stmt, params).scalars().all()
        dup_ids = dict(zip(dup_indexes, new_ids, strict=True))

    # 4. Results in input order, and one audit row per stored message.
    results: list[Stored] = []
    for i, key in enumerate(keys):
        if i in dup_ids:
            results.append(Stored(id=dup_ids[i], duplicate_of=original_of[key]))
        else:
            results.append(Stored(id=won[key], duplicate_of=None))
    session.execute(
        insert(_AUDIT),
        [
            {
                "at": item.received_at,
                "actor": item.source,
                "entity": "message",
                "entity_id": str(result.id),
                "action": "received",
                "detail": (
                    {"status": PENDING}
                    if result.duplicate_of is None
                    else {"status": IGNORED, "duplicate_of": result.duplicate_of}
                ),
            }
            for item, result in zip(items, results, strict=True)
        ],
    )
    return results


def _lock_keys(session: Session, keys: Sequence[str]) -> None:
    """PostgreSQL: lock the batch's keys in one global order before inserting them.

    Rows go in in arrival order (ids keep it, and the worker follows the ids), so two
    instances storing the same messages in different orders (SMTP on one, the shared mailbox
    on the other) would each hold one key's unique-index entry while waiting for the other's:
    a deadlock, a 451 or a failed IMAP batch. Transaction-scoped advisory locks taken in
    sorted order make the second batch wait for the first instead.
    """
    ids = sorted({_lock_id(key) for key in keys})
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(k) "
            "FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS t(k, n) ORDER BY n"
        ),
        {"ids": ids},
    )


def _lock_id(key: str) -> int:
    """A signed 64-bit lock id from the key's SHA-256 hex digits (after ``m:`` or ``c:``)."""
    value = int(key[2:18], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def _row_values(item: Incoming) -> dict[str, Any]:
    return {
        "message_id": item.message_id,
        "sha256": item.sha256,
        "raw": item.raw,
        "size": len(item.raw),
        "mail_from": item.mail_from,
        "rcpt_tos": list(item.rcpt_tos),
        "source": item.source,
        "peer": item.peer,
        "received_at": item.received_at,
        "attempts": 0,
        "lane": item.lane,
    }


def claimable(now: datetime, *, by_lane: bool = True) -> Select[int]:
    """Pending messages free to take: lane first (1 before 2 before 3), then age; or, with
    ``by_lane`` False, the oldest of any lane (the share that keeps lower lanes moving)."""
    q = select(InboundMessage.id).where(
        InboundMessage.status == PENDING,
        or_(InboundMessage.lease_until.is_(None), InboundMessage.lease_until <= now),
    )
    if by_lane:
        return q.order_by(InboundMessage.lane, InboundMessage.id)
    return q.order_by(InboundMessage.id)


def claim(
    session: Session,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    by_lane: bool = True,
) -> list[int]:
    """Lease up to ``limit`` pending messages and count the attempt before any work starts.

    Counting first means a message that kills the process every time still reaches the
    retry bound (Mailman's poison-message rule). The ids come back in the order to work them.
    """
    ids = sql.claim(session, claimable(now, by_lane=by_lane), limit=limit)
    if ids:
        session.execute(
            update(InboundMessage)
            .where(InboundMessage.id.in_(ids))
            .values(attempts=InboundMessage.attempts + 1, lease_until=now + lease)
        )
    return ids


def claim_with_lanes(
    session: Session,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    by_lane: bool = True,
) -> list[tuple[int, int]]:
    """``claim``, with each message's lane: (id, lane) in the order to work them."""
    ids = claim(session, now=now, lease=lease, limit=limit, by_lane=by_lane)
    if not ids:
        return []
    lanes = dict(
        session.execute(
            select(InboundMessage.id, InboundMessage.lane).where(InboundMessage.id.in_(ids))
        ).all()
    )
    return [(i, int(lanes.get(i, 2))) for i in ids]


def lane_of(session: Session, message_id: int) -> int:
    """The lane a stored message was given at intake (2 if it is gone)."""
    lane = session.scalar(select(InboundMessage.lane).where(InboundMessage.id == message_id))
    return 2 if lane is None else int(lane)


def message(session: Session, message_id: int) -> InboundMessage | None:
    """One stored message row, or None."""
    return session.get(InboundMessage, message_id)


def claim_one(session: Session, message_id: int, *, now: datetime, lease: timedelta) -> None:
    """Lease one chosen message and count the attempt (reprocessing by hand)."""
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == message_id, InboundMessage.status == PENDING)
        .values(attempts=InboundMessage.attempts + 1, lease_until=now + lease)
    )


def release(session: Session, ids: Sequence[int]) -> None:
    """Undo a claim that was never worked on, so it costs no attempt and no wait."""
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id.in_(list(ids)), InboundMessage.status == PENDING)
        .values(attempts=InboundMessage.attempts - 1, lease_until=None)
    )


# Built once: a statement object caches its own cache key, so each execution skips building
# and keying it (hot: twice per processed message).
_LOCK_PENDING = (
    select(InboundMessage)
    .where(InboundMessage.id == bindparam("message_id"), InboundMessage.status == PENDING)
    .with_for_update()
)
_LOCK_PENDING_RAW = _LOCK_PENDING.options(undefer(InboundMessage.raw))


def lock_for_processing(
    session: Session, message_id: int, *, with_raw: bool = False
) -> InboundMessage | None:
    """The row, locked for this transaction, if it still needs processing (``with_raw``: its
    raw bytes loaded in the same query rather than on first access).

    This waits for a lock rather than skipping the row: the caller holds the claim, so a lock
    is someone passing by. Another instance's claim locks rows it then finds taken (its
    snapshot saw them free) until that claim commits; skipped, the message would sit until
    its lease ran out. If a worker whose lease had run out is processing it, the wait ends
    with its commit, and the row is no longer pending.
    """
    query = _LOCK_PENDING_RAW if with_raw else _LOCK_PENDING
    row = session.execute(query, {"message_id": message_id}).scalar_one_or_none()
    return row


def finish(
    session: Session,
    row: InboundMessage,
    *,
    status: str,
    now: datetime,
    reason: str | None = None,
    error: str | None = None,
    actor: str = "worker",
) -> None:
    row.status = status
    row.reason = reason
    row.error = error
    row.lease_until = None
    row.finished_at = now
    detail = {"reason": reason, "error": audit_error(error), "attempts": row.attempts}
    _audit_message(session, row, status, now, actor, **detail)


def _audit_message(
    session: Session, row: InboundMessage, action: str, now: datetime, actor: str, **detail: Any
) -> None:
    """The audit row of a change to one stored message's state."""
    audit(
        session,
        at=now,
        actor=actor,
        entity="message",
        entity_id=row.id,
        action=action,
        detail=detail,
    )


def audit_error(error: str | None) -> str | None:
    """What the audit log keeps of a processing error: its kind, never its text, which may
    quote the message and would outlive retention (the message row's copy is purged)."""
    if error is None:
        return None
    return error.split(":", 1)[0].strip()[:120]


def record_failure(
    session: Session, message_id: int, *, error: str, now: datetime, retry_at: datetime | None
) -> InboundMessage | None:
    """After a processing error: schedule a retry, or (``retry_at`` None) mark failed."""
    row = session.get(InboundMessage, message_id)
    if row is None or row.status != PENDING:
        return None
    if retry_at is None:
        finish(session, row, status=FAILED, now=now, error=error)
    else:
        row.error = error
        row.lease_until = retry_at
        _audit_message(
            session,
            row,
            "retry",
            now,
            "worker",
            error=audit_error(error),
            attempts=row.attempts,
            retry_at=retry_at.isoformat(),
        )
    return row


def reset_for_reprocess(session: Session, message_id: int, *, now: datetime, actor: str) -> None:
    """Send a message round again; a duplicate never is, or its report would count twice."""
    row = session.get(InboundMessage, message_id)
    if row is None:
        raise NotFoundError(f"no stored message with id {message_id}")
    if row.duplicate_of is not None:
        raise InvalidRequestError(
            f"message {message_id} is a duplicate of message {row.duplicate_of}; "
            f"reprocess {row.duplicate_of} instead"
        )
    previous = row.status
    row.status = PENDING
    row.attempts = 0
    row.lease_until = None
    row.reason = None
    row.error = None
    row.finished_at = None
    _audit_message(session, row, "reprocess", now, actor, previous_status=previous)


def list_messages(
    session: Session,
    *,
    status: str | None = None,
    limit: int | None = None,
    reason_prefix: str | None = None,
) -> list[InboundMessage]:
    q = select(InboundMessage).order_by(InboundMessage.id)
    if status:
        q = q.where(InboundMessage.status == status)
    if reason_prefix:
        q = q.where(InboundMessage.reason.like(reason_prefix + "%"))
    if limit:
        q = q.limit(limit)
    return list(session.scalars(q).all())


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(InboundMessage.status, func.count()).group_by(InboundMessage.status)
    ).all()
    return {status: count for status, count in rows}
