"""Timers whose truth lives in the database: one ``due_actions`` row per action key.

``replan`` runs in the transaction that changes an episode (opened, acknowledged, returned,
interview recorded) and makes the rows match ``timers.plan``. ``run_due`` claims what is due
with SKIP LOCKED and performs each once: a restart, a clock jump or two instances never send
a reminder twice (the key is unique, the row is done), and never skip one (it stays pending
until done; after downtime it fires once, saying it is late).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailbridge.routing.rules import Routing
from mailbridge.store import inbound
from mailbridge.store.models import Acknowledgement, DueAction, Episode, Interview
from mailbridge.timers.plan import DueAction as PlannedAction
from mailbridge.timers.plan import EpisodeClock, escalation_roles, late_note, plan

log = logging.getLogger(__name__)

PENDING = "pending"
DONE = "done"
CANCELLED = "cancelled"
FINAL_INTERVIEW = frozenset({"completed", "declined"})


def episode_clock(session: Session, episode: Episode) -> EpisodeClock:
    acknowledged = session.scalar(
        select(func.min(Acknowledgement.at)).where(Acknowledgement.episode_id == episode.id)
    )
    interview = session.scalar(select(Interview).where(Interview.episode_id == episode.id))
    return EpisodeClock(
        reference=episode.reference,
        status=episode.status,
        opened_at=episode.opened_at,
        risk_level=episode.risk_level,
        returned_at=episode.returned_at,
        acknowledged_at=acknowledged,
        interview_done=interview is not None and interview.status in FINAL_INTERVIEW,
    )


def ensure_interview(session: Session, episode: Episode, routing: Routing) -> Interview | None:
    """A returned episode owes a return home interview, due a set time after the return."""
    if episode.status != "returned" or episode.returned_at is None:
        return None
    interview = session.scalar(select(Interview).where(Interview.episode_id == episode.id))
    if interview is None:
        interview = Interview(
            episode_id=episode.id,
            due_at=episode.returned_at + routing.interviews.due_after,
            status="due",
            overdue=False,
            reason_codes=[],
            sent_back=0,
        )
        session.add(interview)
        session.flush()
    return interview


def replan(session: Session, episode: Episode, routing: Routing, now: datetime) -> None:
    """Make the episode's pending rows what the plan says: add new, move, cancel the rest."""
    ensure_interview(session, episode, routing)
    wanted = {a.key: a for a in plan(episode_clock(session, episode), routing, until=now)}
    rows = {
        r.key: r
        for r in session.scalars(select(DueAction).where(DueAction.episode_id == episode.id))
    }
    for key, action in wanted.items():
        row = rows.get(key)
        if row is None:
            # Another instance replanning the same episode may add the same key first.
            session.execute(
                _insert(session)(DueAction)
                .values(
                    key=key,
                    kind=action.kind,
                    episode_id=episode.id,
                    due_at=action.due_at,
                    roles=list(action.roles),
                    note=action.note,
                    status=PENDING,
                )
                .on_conflict_do_nothing(index_elements=["key"])
            )
        elif row.status == PENDING:
            row.due_at = action.due_at
            row.roles = list(action.roles)
    for key, row in rows.items():
        if row.status == PENDING and key not in wanted:
            row.status = CANCELLED
            row.done_at = now
    session.flush()


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


@dataclass(frozen=True)
class Performed:
    key: str
    kind: str
    reference: str
    roles: tuple[str, ...]
    late: str | None


class Runner:
    """Performs due actions through a callback that queues their alerts."""

    def __init__(self, engine: Engine, routing: Routing, perform: Performer) -> None:
        self.engine = engine
        self.routing = routing
        self.perform = perform

    def pending(self, at: datetime) -> list[DueAction]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(DueAction)
                    .where(DueAction.status == PENDING, DueAction.due_at <= at)
                    .order_by(DueAction.due_at, DueAction.id)
                )
            )

    def upcoming(self) -> list[tuple[DueAction, str]]:
        with Session(self.engine) as session:
            rows = session.execute(
                select(DueAction, Episode.reference)
                .join(Episode, Episode.id == DueAction.episode_id)
                .where(DueAction.status == PENDING)
                .order_by(DueAction.due_at, DueAction.id)
            ).all()
            return [(a, ref) for a, ref in rows]

    def run_due(self, now: datetime, *, limit: int = 100) -> list[Performed]:
        """Claim and perform every action due by ``now``, each in its own transaction."""
        done: list[Performed] = []
        conflicts = 0
        while True:
            try:
                with Session(self.engine) as session, session.begin():
                    row = session.scalars(
                        select(DueAction)
                        .where(DueAction.status == PENDING, DueAction.due_at <= now)
                        .order_by(DueAction.due_at, DueAction.id)
                        .limit(1)
                        .with_for_update(skip_locked=True)
                    ).first()
                    if row is None or len(done) >= limit:
                        return done
                    performed = self._perform(session, row, now)
            except OperationalError as exc:
                # Two instances replanning one episode can deadlock; the loser rolls back and
                # its row stays pending, so trying again loses and repeats nothing.
                conflicts += 1
                log.warning("due action pass conflicted (%s); retrying", type(exc).__name__)
                if conflicts > 5:
                    return done
                continue
            if performed is not None:
                done.append(performed)

    def _perform(self, session: Session, row: DueAction, now: datetime) -> Performed | None:
        episode = session.get(Episode, row.episode_id)
        if episode is None:
            row.status = CANCELLED
            return None
        # The episode may have moved on (acknowledged, returned) since the row was planned.
        replan(session, episode, self.routing, now)
        if row.status != PENDING:
            return None
        action = PlannedAction(
            key=row.key,
            kind=row.kind,  # type: ignore[arg-type]
            episode_ref=episode.reference,
            due_at=row.due_at,
            roles=tuple(row.roles),
            note=row.note or "",
        )
        roles = escalation_roles(action, self.routing, now)
        late = late_note(action, now)
        self.perform(session, row, episode, roles=roles, late=late, now=now)
        row.status = DONE
        row.done_at = now
        row.late_note = late
        if row.kind == "interview_overdue":
            interview = ensure_interview(session, episode, self.routing)
            if interview is not None:
                interview.overdue = True
        inbound.audit(
            session,
            at=now,
            actor="scheduler",
            entity="episode",
            entity_id=episode.reference,
            action=row.kind,
            detail={"key": row.key, "roles": list(roles), "late": late},
        )
        # A still-missing reminder makes room for the next one.
        replan(session, episode, self.routing, now)
        log.info("due action key=%s kind=%s done%s", row.key, row.kind, " (late)" if late else "")
        return Performed(row.key, row.kind, episode.reference, roles, late)


class Performer(Protocol):
    """The callback type: queue the alerts of one due action inside the given session."""

    def __call__(
        self,
        session: Session,
        row: DueAction,
        episode: Episode,
        *,
        roles: tuple[str, ...],
        late: str | None,
        now: datetime,
    ) -> object: ...


def late_note_for(row: DueAction, at: datetime) -> str | None:
    """What `mailbridge due` says of a pending row that is already late at ``at``."""
    return late_note(
        PlannedAction(
            key=row.key,
            kind=row.kind,  # type: ignore[arg-type]
            episode_ref="",
            due_at=row.due_at,
            roles=tuple(row.roles),
            note=row.note or "",
        ),
        at,
    )
