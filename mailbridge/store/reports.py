"""Queries of the reports that are not figures: the digest, the SSDA903 return and subject access.

Only ``store/`` writes SQL (issue 14). ``reports.digest`` asks when the service was first used,
who the team managers are, and whether a period's digest went; it queues one with
``queue_digest``, whose ``digest_runs`` row is unique per kind and period start, so a second
instance's attempt raises ``AlreadyQueued`` and rolls back. ``reports.ssda903`` reads a
collection year's episodes as plain rows. ``reports.subject_access`` reads everything held about
one child's episodes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from mailbridge.store.models import (
    Acknowledgement,
    Alert,
    Allocation,
    AuditEntry,
    Child,
    DigestRun,
    DueAction,
    Episode,
    InboundMessage,
    Interview,
)

#: what ``queue_digest`` raises (at the insert or the commit) when the period is taken
AlreadyQueued = IntegrityError


# -- the digest ---------------------------------------------------------------------------


def first_received(session: Session) -> datetime | None:
    """When the first message ever arrived; None: none has."""
    return session.scalar(select(func.min(InboundMessage.received_at)))


def team_managers(session: Session) -> list[tuple[str, str | None]]:
    """(address, name) of every current team manager with an address, by address."""
    rows = session.execute(
        select(Allocation.email, Allocation.name)
        .where(Allocation.role == "team_manager", Allocation.valid_to.is_(None))
        .where(Allocation.email.is_not(None))
        .order_by(Allocation.email)
    ).all()
    return [(email, name) for email, name in rows if email]


def digest_queued(session: Session, kind: str, period_start: date) -> bool:
    """Whether the digest of this period was queued already (by any instance)."""
    found = session.scalar(
        select(DigestRun.id).where(DigestRun.kind == kind, DigestRun.period_start == period_start)
    )
    return found is not None


def queue_digest(
    session: Session,
    *,
    kind: str,
    period_start: date,
    period_end: date,
    sent_at: datetime,
    alerts: Sequence[dict[str, Any]],
) -> None:
    """Claim the period (its ``digest_runs`` row) and write its outbox rows, one per person."""
    session.execute(
        insert(DigestRun).values(
            kind=kind,
            period_start=period_start,
            period_end=period_end,
            sent_at=sent_at,
            recipients=len(alerts),
        )
    )
    session.execute(insert(Alert), list(alerts))


# -- the SSDA903 return -------------------------------------------------------------------


MissingRowValues = tuple[str, str | None, date | None, str | None, datetime, datetime | None, str]


def missing_rows(session: Session, since: datetime, until: datetime) -> list[MissingRowValues]:
    """(reference, child, date of birth, code, start, returned at, status) of every episode
    that started in [since, until), void ones left out; by child, start and reference.

    The start is when the child was last seen, else when the episode opened.
    """
    start = func.coalesce(Episode.last_seen_at, Episode.opened_at)
    q = (
        select(
            Episode.reference,
            Episode.child_id,
            Child.date_of_birth,
            Episode.absence_type,
            start.label("start"),
            Episode.returned_at,
            Episode.status,
        )
        .outerjoin(Child, Child.child_id == Episode.child_id)
        # A void episode was never a missing episode (docs/casework.md): not in the return.
        .where(start >= since, start < until, Episode.status != "void")
        .order_by(Episode.child_id, start, Episode.reference)
    )
    # Core rows straight off the connection: no ORM identity map for a whole year.
    return cast(list[MissingRowValues], session.connection().execute(q).all())


# -- subject access -----------------------------------------------------------------------


def episode_identities(
    session: Session,
) -> list[tuple[str, str | None, str | None, str | None, str | None]]:
    """(reference, child, police reference, name given, reported by) of every episode, oldest
    first: what a subject access search matches a requester's term against."""
    rows = session.execute(
        select(
            Episode.reference,
            Episode.child_id,
            Episode.police_reference,
            Episode.child_name_given,
            Episode.reported_by,
        ).order_by(Episode.opened_at, Episode.id)
    ).all()
    return [(ref, child, police, name, by) for ref, child, police, name, by in rows]


def interviews_of(session: Session, episode_ids: Collection[int]) -> list[Interview]:
    return list(session.scalars(select(Interview).where(Interview.episode_id.in_(episode_ids))))


def acknowledgements_of(session: Session, episode_ids: Collection[int]) -> list[Acknowledgement]:
    return list(
        session.scalars(
            select(Acknowledgement).where(Acknowledgement.episode_id.in_(episode_ids))
        )
    )


def due_actions_of(session: Session, episode_ids: Collection[int]) -> list[DueAction]:
    return list(session.scalars(select(DueAction).where(DueAction.episode_id.in_(episode_ids))))


def alerts_of(session: Session, episode_ids: Collection[int]) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert).where(Alert.episode_id.in_(episode_ids)).order_by(Alert.id)
        )
    )


def messages_with_raw(session: Session, ids: Collection[int]) -> list[InboundMessage]:
    """These messages, raw bytes loaded (None once purged), by id."""
    return list(
        session.scalars(
            select(InboundMessage)
            .options(undefer(InboundMessage.raw))
            .where(InboundMessage.id.in_(ids))
            .order_by(InboundMessage.id)
        )
    )


def audit_trail(
    session: Session,
    *,
    references: Collection[str],
    inbound_ids: Collection[int],
    alert_ids: Collection[int],
    entity: str,
    entity_id: str,
) -> list[AuditEntry]:
    """The audit rows of these episodes, messages and alerts, and of (entity, entity_id);
    oldest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(
                or_(
                    and_(AuditEntry.entity == "episode", AuditEntry.entity_id.in_(references)),
                    and_(
                        AuditEntry.entity == "message",
                        AuditEntry.entity_id.in_([str(i) for i in inbound_ids]),
                    ),
                    and_(
                        AuditEntry.entity == "alert",
                        AuditEntry.entity_id.in_([str(a) for a in alert_ids]),
                    ),
                    and_(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id),
                )
            )
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )
