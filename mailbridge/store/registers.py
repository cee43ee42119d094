"""The reads behind the staff web app's registers: return interviews due, overdue and done;
the children's directory search; the audit log. Plain frozen values out, as in ``views``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from mailbridge.store.models import (
    Allocation,
    AuditEntry,
    Child,
    Episode,
    Interview,
    Placement,
)
from mailbridge.store.views import Scope, initials, scoped

# -- interviews ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InterviewRow:
    reference: str
    child_id: str | None
    initials: str
    returned_at: datetime | None
    due_at: datetime
    status: str
    overdue: bool
    held_on: date | None
    interviewer: str | None


FINAL = ("completed", "declined")


def interviews(
    session: Session, *, now: datetime, scope: Scope, done_since: datetime
) -> dict[str, list[InterviewRow]]:
    """Return home interviews in three lists: due (not yet late), overdue, and done since."""
    q = (
        select(
            Episode.reference,
            Episode.child_id,
            Child.first_name,
            Child.last_name,
            Episode.returned_at,
            Interview.due_at,
            Interview.status,
            Interview.overdue,
            Interview.held_on,
            Interview.interviewer,
            Interview.recorded_at,
        )
        .join(Episode, Episode.id == Interview.episode_id)
        .outerjoin(Child, Child.child_id == Episode.child_id)
        .where(
            Episode.status != "void",
            or_(
                Interview.status.not_in(FINAL),
                and_(Interview.status.in_(FINAL), Interview.recorded_at >= done_since),
            ),
        )
        .order_by(Interview.due_at)
    )
    out: dict[str, list[InterviewRow]] = {"overdue": [], "due": [], "done": []}
    for ref, cid, first, last, ret, due, status, overdue, held, who, _rec in session.execute(
        scoped(q, scope)
    ):
        row = InterviewRow(ref, cid, initials(first, last), ret, due, status, overdue, held, who)
        if status in FINAL:
            out["done"].append(row)
        elif overdue or due <= now:
            out["overdue"].append(row)
        else:
            out["due"].append(row)
    return out


# -- directory ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryChild:
    child_id: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    placement: str | None
    social_worker: str | None


def search_children(session: Session, text: str, *, limit: int = 50) -> list[DirectoryChild]:
    """Children whose ID, names or placement contain ``text`` (case-insensitive)."""
    needle = f"%{text.strip().lower()}%"
    sw = (
        select(Allocation.child_id, Allocation.name, Allocation.email)
        .where(Allocation.role == "social_worker", Allocation.valid_to.is_(None))
        .subquery()
    )
    q = (
        select(
            Child.child_id,
            Child.first_name,
            Child.last_name,
            Child.date_of_birth,
            Placement.name,
            func.coalesce(sw.c.name, sw.c.email),
        )
        .outerjoin(Placement, Placement.id == Child.placement_id)
        .outerjoin(sw, sw.c.child_id == Child.child_id)
        .where(
            or_(
                func.lower(Child.child_id).like(needle),
                func.lower(Child.first_name).like(needle),
                func.lower(Child.last_name).like(needle),
                func.lower(Placement.name).like(needle),
            )
        )
        .order_by(Child.last_name, Child.first_name, Child.child_id)
        .limit(limit)
    )
    return [DirectoryChild(*r) for r in session.execute(q)]


def count_children(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Child)) or 0)


# -- audit --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditLine:
    id: int
    at: datetime
    actor: str
    entity: str
    entity_id: str
    action: str
    detail: dict[str, Any]


def audit_lines(
    session: Session,
    *,
    actor: str = "",
    entity_id: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[AuditLine]:
    """The newest audit rows first, filtered by who, which record, what and when."""
    q = select(
        AuditEntry.id,
        AuditEntry.at,
        AuditEntry.actor,
        AuditEntry.entity,
        AuditEntry.entity_id,
        AuditEntry.action,
        AuditEntry.detail,
    )
    if actor:
        q = q.where(func.lower(AuditEntry.actor).like(f"%{actor.lower()}%"))
    if entity_id:
        q = q.where(func.upper(AuditEntry.entity_id) == entity_id.strip().upper())
    if action:
        q = q.where(AuditEntry.action == action)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    if until is not None:
        q = q.where(AuditEntry.at < until)
    q = q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    return [
        AuditLine(i, at, who, ent, eid, act, dict(detail or {}))
        for i, at, who, ent, eid, act, detail in session.execute(q)
    ]


def audit_actions(session: Session) -> list[str]:
    return sorted(a for a in session.scalars(select(AuditEntry.action).distinct()) if a)
