"""Due-action and interview queries: the rows behind the timers (``timers.runner``).

One ``due_actions`` row per action key (unique), and one ``interviews`` row per returned
episode. ``match_plan`` makes an episode's pending rows what the pure plan wants, inserting with
``insert_ignore`` because another instance replanning the same episode may add a key first.
``claim_due`` takes the next due row with SKIP LOCKED, so two instances never perform one action.
Only ``store/`` writes SQL (issue 14).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailbridge.store.models import Acknowledgement, DueAction, Episode, Interview
from mailbridge.store.sql import claim, insert_ignore

if TYPE_CHECKING:
    from mailbridge.timers.plan import DueAction as PlannedAction

PENDING = "pending"
CANCELLED = "cancelled"

#: what a pass raises when it lost to another transaction (a deadlock, a lock timeout); its
#: transaction is rolled back and trying again repeats nothing
Conflict = OperationalError


# Built once (each report replans its episode): a statement object keeps its cache key.
_FIRST_ACK = select(func.min(Acknowledgement.at)).where(
    Acknowledgement.episode_id == bindparam("episode_id")
)
_INTERVIEW = select(Interview).where(Interview.episode_id == bindparam("episode_id"))
_ACTIONS = select(DueAction).where(DueAction.episode_id == bindparam("episode_id"))


def first_acknowledged(session: Session, episode_id: int) -> datetime | None:
    """When anyone first acknowledged the episode; None: nobody yet."""
    return session.scalar(_FIRST_ACK, {"episode_id": episode_id})


def interview_of(session: Session, episode_id: int) -> Interview | None:
    return session.scalar(_INTERVIEW, {"episode_id": episode_id})


def add_interview(session: Session, **values: Any) -> Interview:
    """A new interview row; its id is known on return (flushed)."""
    interview = Interview(**values)
    session.add(interview)
    session.flush()
    return interview


def match_plan(
    session: Session, episode_id: int, wanted: Mapping[str, PlannedAction], now: datetime
) -> None:
    """Make the episode's pending rows ``wanted``: add new keys, move pending ones, cancel the
    pending rest (at ``now``). Rows already done or cancelled stay as they are."""
    rows = {
        r.key: r
        for r in session.scalars(_ACTIONS, {"episode_id": episode_id})
    }
    for key, action in wanted.items():
        row = rows.get(key)
        if row is None:
            # Another instance replanning the same episode may add the same key first.
            session.execute(
                insert_ignore(session, DueAction, key=["key"]).values(
                    key=key,
                    kind=action.kind,
                    episode_id=episode_id,
                    due_at=action.due_at,
                    roles=list(action.roles),
                    note=action.note,
                    status=PENDING,
                )
            )
        elif row.status == PENDING:
            row.due_at = action.due_at
            row.roles = list(action.roles)
    for key, row in rows.items():
        if row.status == PENDING and key not in wanted:
            row.status = CANCELLED
            row.done_at = now
    session.flush()


def pending(session: Session, at: datetime) -> list[DueAction]:
    """Pending rows due by ``at``, soonest first."""
    return list(
        session.scalars(
            select(DueAction)
            .where(DueAction.status == PENDING, DueAction.due_at <= at)
            .order_by(DueAction.due_at, DueAction.id)
        )
    )


def upcoming(session: Session) -> list[tuple[DueAction, str]]:
    """Every pending row with its episode's reference, soonest first."""
    rows = session.execute(
        select(DueAction, Episode.reference)
        .join(Episode, Episode.id == DueAction.episode_id)
        .where(DueAction.status == PENDING)
        .order_by(DueAction.due_at, DueAction.id)
    ).all()
    return [(a, ref) for a, ref in rows]


def claim_due(session: Session, now: datetime) -> DueAction | None:
    """The soonest pending row due by ``now`` that no other transaction holds, locked."""
    claimed = claim(
        session,
        select(DueAction)
        .where(DueAction.status == PENDING, DueAction.due_at <= now)
        .order_by(DueAction.due_at, DueAction.id),
        limit=1,
    )
    return claimed[0] if claimed else None


def episode_of(session: Session, row: DueAction) -> Episode | None:
    """The row's episode; None when it is gone."""
    return session.get(Episode, row.episode_id)
