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
from typing import Protocol

from mailbridge.routing.rules import Routing
from mailbridge.store import episodes as episode_store
from mailbridge.store import timers as due
from mailbridge.store import tx
from mailbridge.store.models import DueAction, Episode, Interview
from mailbridge.timers.plan import DueAction as PlannedAction
from mailbridge.timers.plan import EpisodeClock, escalation_roles, late_note, plan

log = logging.getLogger(__name__)

PENDING = "pending"
DONE = "done"
CANCELLED = "cancelled"
VOID = "void"
FINAL_INTERVIEW = frozenset({"completed", "declined"})


def episode_clock(session: tx.Tx, episode: Episode) -> EpisodeClock:
    acknowledged = due.first_acknowledged(session, episode.id)
    interview = due.interview_of(session, episode.id)
    return EpisodeClock(
        reference=episode.reference,
        status=episode.status,
        opened_at=episode.opened_at,
        risk_level=episode.risk_level,
        returned_at=episode.returned_at,
        acknowledged_at=acknowledged,
        interview_done=interview is not None and interview.status in FINAL_INTERVIEW,
    )


def ensure_interview(session: tx.Tx, episode: Episode, routing: Routing) -> Interview | None:
    """A returned episode owes a return home interview, due a set time after the return."""
    if episode.status != "returned" or episode.returned_at is None:
        return None
    interview = due.interview_of(session, episode.id)
    if interview is None:
        interview = due.add_interview(
            session,
            episode_id=episode.id,
            due_at=episode.returned_at + routing.interviews.due_after,
            status="due",
            overdue=False,
            reason_codes=[],
            sent_back=0,
            by_authority=_interviewer(routing, episode),
        )
    elif interview.recorded_at is None:
        # Staff corrected the return time (docs/casework.md): the clock follows it.
        interview.due_at = episode.returned_at + routing.interviews.due_after
    return interview


def _interviewer(routing: Routing, episode: Episode) -> str | None:
    """The authority code that holds the interview (docs/out-of-area.md); None: not known."""
    held_by = routing.authorities.interviewer(episode.placement_authority)
    return held_by.code if held_by is not None else None


def replan(session: tx.Tx, episode: Episode, routing: Routing, now: datetime) -> None:
    """Make the episode's pending rows what the plan says: add new, move, cancel the rest.

    A void episode (docs/casework.md) wants no timers: every pending one is cancelled.
    """
    wanted: dict[str, PlannedAction] = {}
    if episode.status != VOID:
        ensure_interview(session, episode, routing)
        wanted = {a.key: a for a in plan(episode_clock(session, episode), routing, until=now)}
    due.match_plan(session, episode.id, wanted, now)


@dataclass(frozen=True)
class Performed:
    key: str
    kind: str
    reference: str
    roles: tuple[str, ...]
    late: str | None


class Runner:
    """Performs due actions through a callback that queues their alerts."""

    def __init__(self, engine: tx.Engine, routing: Routing, perform: Performer) -> None:
        self.engine = engine
        self.routing = routing
        self.perform = perform

    def pending(self, at: datetime) -> list[DueAction]:
        with tx.read(self.engine) as session:
            return due.pending(session, at)

    def upcoming(self) -> list[tuple[DueAction, str]]:
        with tx.read(self.engine) as session:
            return due.upcoming(session)

    def run_due(self, now: datetime, *, limit: int = 100) -> list[Performed]:
        """Claim and perform every action due by ``now``, each in its own transaction."""
        done: list[Performed] = []
        conflicts = 0
        while True:
            try:
                with tx.write(self.engine) as session:
                    row = due.claim_due(session, now)
                    if row is None or len(done) >= limit:
                        return done
                    performed = self._perform(session, row, now)
            except due.Conflict as exc:
                # Two instances replanning one episode can deadlock; the loser rolls back and
                # its row stays pending, so trying again loses and repeats nothing.
                conflicts += 1
                log.warning("due action pass conflicted (%s); retrying", type(exc).__name__)
                if conflicts > 5:
                    return done
                continue
            if performed is not None:
                done.append(performed)

    def _perform(self, session: tx.Tx, row: DueAction, now: datetime) -> Performed | None:
        episode = due.episode_of(session, row)
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
        episode_store.audit(
            session,
            episode,
            row.kind,
            actor="scheduler",
            at=now,
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
        session: tx.Tx,
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
