"""Episode queries for casework: lock one episode, write and read its change history, move or copy
its messages, list who was already told about it, and hand out references.

Only ``store/`` writes SQL (issue 14); ``episodes.casework`` calls these inside the one
transaction of each operation. ``lock`` takes the row with SELECT ... FOR UPDATE on PostgreSQL,
so two instances working on one episode take turns; SQLite has one writer at a time anyway.

``episodes.processing`` finds an incoming message's episode here too (by thread, by reference,
the child's open one under a lock, an unmatched sender's) and writes new episodes with
``insert``, all inside the one transaction of each processed message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session, undefer

from mailbridge.episodes.machine import OPEN
from mailbridge.store.inbound import audit as audit_row
from mailbridge.store.models import (
    Acknowledgement,
    Alert,
    DueAction,
    Episode,
    EpisodeChange,
    EpisodeMessage,
    InboundMessage,
    ReferenceCounter,
)
from mailbridge.store.sql import insert_ignore

PENDING = "pending"
CANCELLED = "cancelled"


def lock(session: Session, reference: str) -> Episode | None:
    """The episode, locked for this transaction (FOR UPDATE); None when there is none."""
    return session.scalars(
        select(Episode)
        .where(Episode.reference == reference.strip().upper())
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def lock_many(session: Session, references: Sequence[str]) -> dict[str, Episode]:
    """Several episodes locked in id order (two operations on a pair never deadlock)."""
    refs = sorted({r.strip().upper() for r in references})
    rows = session.scalars(
        select(Episode)
        .where(Episode.reference.in_(refs))
        .order_by(Episode.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {e.reference: e for e in rows}


def next_reference(session: Session, year: int) -> str:
    """MB-YYYY-NNNNN from a per-year counter; the UPDATE's row lock serialises instances."""
    session.execute(insert_ignore(session, ReferenceCounter).values(year=year, last=0))
    last = session.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.year == year)
        .values(last=ReferenceCounter.last + 1)
        .returning(ReferenceCounter.last)
    ).scalar_one()
    return f"MB-{year}-{last:05d}"


def record_change(
    session: Session,
    episode: Episode,
    *,
    at: datetime,
    actor: str,
    operation: str,
    field: str | None,
    old: Any,
    new: Any,
    note: str | None,
    source: str,
) -> EpisodeChange:
    """One row of the episode's history; the id is known on return (flushed)."""
    row = EpisodeChange(
        episode_id=episode.id,
        at=at,
        actor=actor,
        operation=operation,
        field=field,
        old=jsonable(old),
        new=jsonable(new),
        note=note,
        source=source,
    )
    session.add(row)
    session.flush()
    return row


def jsonable(value: Any) -> Any:
    """A value as the history keeps it: times as ISO 8601, the rest as they are."""
    return value.isoformat() if isinstance(value, datetime) else value


def history(session: Session, episode_id: int) -> list[dict[str, Any]]:
    """Every change a person made, oldest first: when, who, what, old, new, note."""
    rows = session.scalars(
        select(EpisodeChange)
        .where(EpisodeChange.episode_id == episode_id)
        .order_by(EpisodeChange.at, EpisodeChange.id)
    )
    return [
        {
            "when": r.at.isoformat(),
            "who": r.actor,
            "what": f"{r.operation} {r.field}" if r.field else r.operation,
            "operation": r.operation,
            "field": r.field,
            "old": r.old,
            "new": r.new,
            "note": r.note,
            "source": r.source,
        }
        for r in rows
    ]


def attach_messages(session: Session, source_id: int, target_id: int, *, move: bool) -> int:
    """Give ``target`` every message of ``source`` (moved for a merge, copied for a split)."""
    have = set(
        session.scalars(
            select(EpisodeMessage.inbound_id).where(EpisodeMessage.episode_id == target_id)
        )
    )
    count = 0
    for link in session.scalars(
        select(EpisodeMessage).where(EpisodeMessage.episode_id == source_id)
    ).all():
        if link.inbound_id in have:
            continue
        count += 1
        if move:
            link.episode_id = target_id
        else:
            session.add(
                EpisodeMessage(
                    episode_id=target_id,
                    inbound_id=link.inbound_id,
                    event=link.event,
                    at=link.at,
                    summary=dict(link.summary or {}),
                )
            )
    session.flush()
    return count


def first_message(session: Session, episode_id: int) -> InboundMessage | None:
    """The message that opened the episode (its oldest attached), raw bytes loaded."""
    return session.scalars(
        select(InboundMessage)
        .join(EpisodeMessage, EpisodeMessage.inbound_id == InboundMessage.id)
        .where(EpisodeMessage.episode_id == episode_id)
        .order_by(EpisodeMessage.at, EpisodeMessage.id)
        .options(undefer(InboundMessage.raw))
        .limit(1)
    ).first()


def told_before(session: Session, episode_id: int) -> list[tuple[str, str, str | None]]:
    """(role, address, name) of the staff already alerted about the episode, first told first.

    Receipts to the reporter are not staff alerts and are left out.
    """
    rows = session.execute(
        select(Alert.role, Alert.recipient, Alert.recipient_name)
        .where(Alert.episode_id == episode_id, Alert.role != "reporter")
        .order_by(Alert.id)
    ).all()
    seen: dict[str, tuple[str, str, str | None]] = {}
    for role, address, name in rows:
        seen.setdefault(address.lower(), (role, address, name))
    return list(seen.values())


def cancel_timers(session: Session, episode_id: int, now: datetime) -> int:
    """Cancel every pending timer of the episode; how many there were."""
    rows = session.scalars(
        select(DueAction).where(DueAction.episode_id == episode_id, DueAction.status == PENDING)
    ).all()
    for row in rows:
        row.status = CANCELLED
        row.done_at = now
    session.flush()
    return len(rows)


def by_reference(session: Session, reference: str) -> Episode | None:
    return session.scalars(
        select(Episode).where(Episode.reference == reference.strip().upper())
    ).first()


def listing(session: Session, *, open_only: bool = False) -> list[Episode]:
    """Every episode (or the open ones), oldest first."""
    q = select(Episode).order_by(Episode.opened_at, Episode.id)
    if open_only:
        q = q.where(Episode.status == "open")
    return list(session.scalars(q))


def of_child(session: Session, child_id: str) -> list[Episode]:
    """The child's episodes, oldest first."""
    return list(
        session.scalars(
            select(Episode).where(Episode.child_id == child_id).order_by(Episode.opened_at)
        )
    )


def add(session: Session, **values: Any) -> Episode:
    """A new episode row; its id is known on return (flushed)."""
    episode = Episode(**values)
    session.add(episode)
    session.flush()
    return episode


def send_changes(session: Session) -> None:
    """Write what the transaction has changed so far, so the next queries see it (a flush)."""
    session.flush()


def message_links(
    session: Session, episode_ids: Sequence[int]
) -> list[tuple[EpisodeMessage, str | None, str | None]]:
    """(link, Message-ID, envelope sender) of every message of these episodes, in one query;
    by episode, then oldest first."""
    rows = session.execute(
        select(EpisodeMessage, InboundMessage.message_id, InboundMessage.mail_from)
        .join(InboundMessage, InboundMessage.id == EpisodeMessage.inbound_id)
        .where(EpisodeMessage.episode_id.in_(episode_ids))
        .order_by(EpisodeMessage.episode_id, EpisodeMessage.at, EpisodeMessage.id)
    ).all()
    return [(link, message_id, mail_from) for link, message_id, mail_from in rows]


def link_message(
    session: Session,
    episode_id: int,
    inbound_id: int,
    *,
    event: str,
    at: datetime,
    summary: dict[str, Any],
) -> None:
    """Attach a message to the episode's timeline as ``event``."""
    session.add(
        EpisodeMessage(
            episode_id=episode_id, inbound_id=inbound_id, event=event, at=at, summary=summary
        )
    )


def acknowledge(
    session: Session,
    episode_id: int,
    *,
    role: str,
    address: str,
    at: datetime,
    alert_id: int | None = None,
    inbound_id: int | None = None,
) -> bool:
    """Record that ``address`` has the episode in hand as ``role``; False if it already had
    (one row per episode, role and address: a repeat or a second instance adds nothing)."""
    done = session.execute(
        insert_ignore(session, Acknowledgement, key=["episode_id", "role", "address"]).values(
            episode_id=episode_id,
            alert_id=alert_id,
            inbound_id=inbound_id,
            role=role,
            address=address,
            at=at,
        )
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def alert(session: Session, alert_id: int) -> Alert | None:
    """One alert row (the one a reply token names); None when there is none."""
    return session.get(Alert, alert_id)


def audit(
    session: Session,
    episode: Episode,
    action: str,
    *,
    actor: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit row about the episode (entity ``episode``, its reference)."""
    audit_row(
        session,
        at=at,
        actor=actor,
        entity="episode",
        entity_id=episode.reference,
        action=action,
        detail=detail,
    )


_LOCKED = "mailbridge.locked_episodes"  # session.info key: episodes this transaction locked


def get(session: Session, episode_id: int) -> Episode | None:
    """One episode by id (the transaction's copy when it already holds it); None when none."""
    return session.get(Episode, episode_id)


def start_times_of_child(session: Session, child_id: str) -> list[datetime]:
    """When each of the child's episodes opened (any status, unordered)."""
    return list(session.scalars(select(Episode.opened_at).where(Episode.child_id == child_id)))


def insert(session: Session, episode: Episode) -> Episode:
    """Write a new episode built by the caller; its id is known on return (flushed)."""
    session.add(episode)
    session.flush()
    return episode


def latest_in_thread(session: Session, message_ids: Sequence[str]) -> Episode | None:
    """The episode that most recently took in one of the messages with these Message-IDs."""
    return session.scalars(
        select(Episode)
        .join(EpisodeMessage, EpisodeMessage.episode_id == Episode.id)
        .join(InboundMessage, InboundMessage.id == EpisodeMessage.inbound_id)
        .where(InboundMessage.message_id.in_(list(message_ids)))
        .order_by(EpisodeMessage.id.desc())
        .limit(1)
    ).first()


def with_reference(session: Session, reference: str) -> Episode | None:
    """The episode of exactly this reference (no normalising); None when there is none."""
    return session.scalars(select(Episode).where(Episode.reference == reference)).first()


# Built once (each processed message runs them): a statement object keeps its cache key.
_APPLIED_TO = (
    select(Episode.reference)
    .join(EpisodeMessage, EpisodeMessage.episode_id == Episode.id)
    .where(EpisodeMessage.inbound_id == bindparam("inbound_id"))
    .limit(1)
)
_OPEN_OF_CHILD = (
    select(Episode)
    .where(Episode.child_id == bindparam("child_id"), Episode.status == OPEN)
    .order_by(Episode.id.desc())
    .limit(1)
    .with_for_update()
)


def applied_to(session: Session, inbound_id: int) -> str | None:
    """The reference of an episode that already took in the message ``inbound_id``, if any."""
    return session.scalars(_APPLIED_TO, {"inbound_id": inbound_id}).first()


def lock_open_of_child(session: Session, child_id: str) -> Episode | None:
    """The child's newest open episode, locked for this transaction, with the child locked too.

    FOR UPDATE locks nothing when no episode exists yet, so on PostgreSQL a transaction-scoped
    advisory lock on the child keeps two workers from both opening a first episode.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"mailbridge.child:{child_id}"},
        )
    episode = session.scalars(_OPEN_OF_CHILD, {"child_id": child_id}).first()
    if episode is not None:
        # The transaction keeps what it locked: the session holds its objects weakly, so the
        # caller's later ``get`` of this episode would otherwise read the row again.
        session.info.setdefault(_LOCKED, []).append(episode)
    return episode


def open_unmatched_from(session: Session, sender: str) -> list[Episode]:
    """The open episodes with no child matched that ``sender`` reported."""
    return list(
        session.scalars(
            select(Episode).where(
                Episode.child_id.is_(None), Episode.status == OPEN, Episode.reported_by == sender
            )
        )
    )
