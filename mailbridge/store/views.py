"""The reads behind the staff web app's pages: every SQL statement the pages need, in one place.

The web layer never writes SQL; it calls these functions with a session and plain arguments and
gets plain frozen values back (no ORM objects leave this module, so a template cannot lazy-load
a child's record by accident). Each query runs the same on SQLite and PostgreSQL.

The Now page is the hot path (a duty screen polls it all night): it is two indexed queries (the
open episodes with their child, placement and next escalation; the acknowledgements of those
episodes), whatever the number of closed episodes. bench/web_now.py measures it with 500 open
and 100,000 closed episodes.

``Scope`` says whose children a person may see: ``None`` is everyone (duty, managers, the
apprentice, admin); a set of child IDs limits a social worker or IRO to the children allocated
to them now. Unmatched episodes have no child, so only the all-seeing roles see them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased

from mailbridge.store.models import (
    FAILED,
    IGNORED,
    Acknowledgement,
    Allocation,
    Child,
    DueAction,
    Episode,
    InboundMessage,
    Placement,
)
from mailbridge.store.triage import PREFIX as TRIAGE_PREFIX

Scope = frozenset[str] | None
_Q = TypeVar("_Q", bound=Select[*tuple[Any, ...]])

# Risk as the Now page sorts it: not yet assessed counts with high until a person says otherwise
# (rule 1: on doubt, the safe state).
RISK_RANK = {"high": 0, None: 0, "medium": 1, "low": 2}
OPEN = "open"
_ESCALATIONS = ("escalate_team_manager", "escalate_duty", "still_missing")
# IDs per IN list: a statement of a few tens of kilobytes at most.
_IDS_PER_QUERY = 5000


def initials(first: str | None, last: str | None) -> str:
    """``J.S.``: what the Now page and subjects show instead of a name."""
    parts = [p[:1].upper() + "." for p in (first or "", last or "") if p.strip()]
    return "".join(parts) or "?"


def age_on(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    years = today.year - born.year
    if (today.month, today.day) < (born.month, born.day):
        years -= 1
    return years


# -- who may see whom -------------------------------------------------------------------------


def allocated_children(session: Session, *, role: str, email: str | None) -> frozenset[str]:
    """The children for whom ``email`` holds ``role`` now (valid_to unset)."""
    if not email:
        return frozenset()
    q = select(Allocation.child_id).where(
        Allocation.role == role,
        func.lower(Allocation.email) == email.lower(),
        Allocation.valid_to.is_(None),
    )
    return frozenset(session.scalars(q))


def scoped(q: _Q, scope: Scope) -> _Q:
    if scope is None:
        return q
    if not scope:
        return q.where(Episode.id.is_(None))  # matches nothing
    return q.where(Episode.child_id.in_(sorted(scope)))


def episode_access(session: Session, reference: str) -> tuple[int, str | None] | None:
    """(episode id, child id) for a reference, or None: what the access check needs."""
    row = session.execute(
        select(Episode.id, Episode.child_id).where(Episode.reference == reference.upper())
    ).first()
    return (row[0], row[1]) if row is not None else None


# -- the Now page -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    role: str
    address: str
    at: datetime


@dataclass(frozen=True)
class NextAction:
    kind: str
    due_at: datetime


@dataclass(frozen=True)
class NowRow:
    reference: str
    child_id: str | None
    initials: str
    age: int | None
    placement: str | None
    risk: str | None
    opened_at: datetime
    missing_since: datetime
    last_seen_at: datetime | None
    last_seen_location: str | None
    needs_confirmation: bool
    acks: tuple[Ack, ...]
    next_action: NextAction | None


def _now_statements() -> tuple[Select[*tuple[Any, ...]], Select[*tuple[Any, ...]]]:
    """The Now page's two statements, built once: building them (an alias, a correlated
    subquery) cost more CPU than SQLite took to run them."""
    nxt = aliased(DueAction)
    first_due = (
        select(DueAction.id)
        .where(
            DueAction.episode_id == Episode.id,
            DueAction.status == "pending",
            DueAction.kind.in_(_ESCALATIONS),
        )
        .order_by(DueAction.due_at, DueAction.id)
        .limit(1)
        .correlate(Episode)
        .scalar_subquery()
    )
    episodes = (
        select(
            Episode.id,
            Episode.reference,
            Episode.child_id,
            Child.first_name,
            Child.last_name,
            Child.date_of_birth,
            Placement.name,
            Episode.risk_level,
            Episode.opened_at,
            Episode.last_seen_at,
            Episode.last_seen_location,
            Episode.needs_confirmation,
            Episode.child_name_given,
            nxt.kind,
            nxt.due_at,
        )
        .outerjoin(Child, Child.child_id == Episode.child_id)
        .outerjoin(Placement, Placement.id == Child.placement_id)
        .outerjoin(nxt, nxt.id == first_due)
        .where(Episode.status == OPEN)
    )
    acks = (
        select(
            Acknowledgement.episode_id,
            Acknowledgement.role,
            Acknowledgement.address,
            Acknowledgement.at,
        )
        # The IDs (integers read by the first statement) are written into the SQL: bound one by
        # one, 500 parameters cost psycopg more CPU than the whole of SQLite's query.
        .where(
            Acknowledgement.episode_id.in_(
                bindparam("ids", expanding=True, literal_execute=True)
            )
        )
        .order_by(Acknowledgement.episode_id, Acknowledgement.at, Acknowledgement.id)
    )
    return episodes, acks


_NOW_EPISODES, _NOW_ACKS = _now_statements()


def open_episodes(session: Session, *, today: date, scope: Scope) -> list[NowRow]:
    """Every open episode the scope allows, sorted by risk, then longest missing first.

    Two statements, each by index, whatever the number of closed episodes:

    - the open episodes (``ix_episodes_status``) with their child, placement and first pending
      escalation: a correlated subquery per episode on ``ix_due_actions_episode_status_due``
      (episode, status, due time), so one index probe each;
    - their acknowledgements, by those episodes' IDs (``ix_acknowledgements_episode_id``).
      Joined to the first statement instead, PostgreSQL hashes every acknowledgement ever made
      (a sequential scan of the closed episodes' rows, growing for ever); an ID list it probes.
    """
    # Core rows straight off the connection: no ORM result processing on the hot path.
    conn = session.connection()
    rows = conn.execute(scoped(_NOW_EPISODES, scope)).all()
    acks: dict[int, list[Ack]] = {}
    ids = [r[0] for r in rows]
    for i in range(0, len(ids), _IDS_PER_QUERY):
        chunk = {"ids": ids[i : i + _IDS_PER_QUERY]}
        for eid, role, address, at in conn.execute(_NOW_ACKS, chunk).all():
            acks.setdefault(eid, []).append(Ack(role, address, at))
    out: list[NowRow] = []
    for (
        eid,
        ref,
        child_id,
        first,
        last,
        born,
        placement,
        risk,
        opened,
        seen,
        where,
        confirm,
        name_given,
        kind,
        due_at,
    ) in rows:
        if child_id is None and name_given:  # unmatched: the initials of the name as reported
            words = name_given.split()
            shown = initials(words[0], words[-1] if len(words) > 1 else "")
        else:
            shown = initials(first, last)
        since = min(seen, opened) if seen is not None else opened
        out.append(
            NowRow(
                reference=ref,
                child_id=child_id,
                initials=shown,
                age=age_on(born, today),
                placement=placement,
                risk=risk,
                opened_at=opened,
                missing_since=since,
                last_seen_at=seen,
                last_seen_location=where,
                needs_confirmation=bool(confirm),
                acks=tuple(acks.get(eid, ())),
                next_action=NextAction(kind, due_at) if kind is not None else None,
            )
        )
    out.sort(key=lambda r: (RISK_RANK.get(r.risk, 0), r.missing_since, r.reference))
    return out


def acks_of(session: Session, where: Any) -> dict[int, list[Ack]]:
    """Acknowledgements of the episodes that ``where`` (a condition on Episode) selects."""
    q = (
        select(
            Acknowledgement.episode_id,
            Acknowledgement.role,
            Acknowledgement.address,
            Acknowledgement.at,
        )
        .join(Episode, Episode.id == Acknowledgement.episode_id)
        .where(where)
        .order_by(Acknowledgement.at, Acknowledgement.id)
    )
    out: dict[int, list[Ack]] = {}
    for eid, role, address, at in session.connection().execute(q):
        out.setdefault(eid, []).append(Ack(role, address, at))
    return out


def next_actions(session: Session, where: Any) -> dict[int, NextAction]:
    """The next pending escalation or reminder of each episode that ``where`` selects."""
    # Only the first of each episode comes back (a window function, on SQLite and PostgreSQL
    # alike): a third of the rows and their timestamps to convert, on the Now page's hot path.
    first = func.row_number().over(
        partition_by=DueAction.episode_id, order_by=(DueAction.due_at, DueAction.id)
    )
    ranked = (
        select(DueAction.episode_id, DueAction.kind, DueAction.due_at, first.label("n"))
        .join(Episode, Episode.id == DueAction.episode_id)
        .where(where, DueAction.status == "pending", DueAction.kind.in_(_ESCALATIONS))
        .subquery()
    )
    q = select(ranked.c.episode_id, ranked.c.kind, ranked.c.due_at).where(ranked.c.n == 1)
    return {
        eid: NextAction(kind, due_at)
        for eid, kind, due_at in session.connection().execute(q)
    }


# -- triage -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TriageEpisode:
    reference: str
    status: str
    opened_at: datetime
    reported_by: str | None
    child_name_given: str | None
    reason: str


@dataclass(frozen=True)
class TriageMessage:
    id: int
    received_at: datetime
    mail_from: str | None
    status: str
    reason: str | None
    error: str | None


@dataclass(frozen=True)
class Triage:
    unmatched: list[TriageEpisode]
    to_confirm: list[TriageEpisode]
    not_reports: list[TriageMessage]
    failed: list[TriageMessage]


def triage(session: Session, *, since: datetime, limit: int = 200) -> Triage:
    """What needs a person: unmatched and to-confirm episodes, not-a-report and failed mail.

    Unmatched open episodes and episodes awaiting confirmation are listed whatever their age;
    not-a-report mail from ``since`` on; failed messages until someone reprocesses them.
    """
    cols = (
        Episode.reference,
        Episode.status,
        Episode.opened_at,
        Episode.reported_by,
        Episode.child_name_given,
        Episode.confirmation_reason,
    )
    unmatched = [
        TriageEpisode(ref, st, at, by, name, "no child in the directory matched this report")
        for ref, st, at, by, name, _ in session.execute(
            select(*cols)
            .where(Episode.child_id.is_(None), Episode.status == OPEN)
            .order_by(Episode.opened_at)
            .limit(limit)
        )
    ]
    to_confirm = [
        TriageEpisode(ref, st, at, by, name, why or "needs confirmation")
        for ref, st, at, by, name, why in session.execute(
            select(*cols)
            .where(Episode.needs_confirmation.is_(True))
            .order_by(Episode.opened_at)
            .limit(limit)
        )
    ]
    mcols = (
        InboundMessage.id,
        InboundMessage.received_at,
        InboundMessage.mail_from,
        InboundMessage.status,
        InboundMessage.reason,
        InboundMessage.error,
    )
    not_reports = [
        TriageMessage(*row)
        for row in session.execute(
            select(*mcols)
            .where(
                InboundMessage.status == IGNORED,
                # A known sender's non-report is forwarded at once ("not a report: ..."); an
                # unknown sender's waits on the triage list ("triage: not a report: ...").
                or_(
                    InboundMessage.reason.like("not a report%"),
                    InboundMessage.reason.like(TRIAGE_PREFIX + "not a report%"),
                ),
                InboundMessage.received_at >= since,
            )
            .order_by(InboundMessage.received_at.desc())
            .limit(limit)
        )
    ]
    failed = [
        TriageMessage(*row)
        for row in session.execute(
            select(*mcols)
            .where(InboundMessage.status == FAILED)
            .order_by(InboundMessage.received_at.desc())
            .limit(limit)
        )
    ]
    return Triage(unmatched, to_confirm, not_reports, failed)
