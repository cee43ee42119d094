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

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased

from mailbridge.store import episodes as episode_store
from mailbridge.store.models import (
    FAILED,
    IGNORED,
    Acknowledgement,
    Alert,
    Allocation,
    AuditEntry,
    Child,
    DueAction,
    Episode,
    EpisodeMessage,
    InboundMessage,
    Interview,
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


def _scoped(q: _Q, scope: Scope) -> _Q:
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
    rows = conn.execute(_scoped(_NOW_EPISODES, scope)).all()
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


def _acks(session: Session, where: Any) -> dict[int, list[Ack]]:
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


def _next_actions(session: Session, where: Any) -> dict[int, NextAction]:
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


# -- one episode --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpisodeFacts:
    id: int
    reference: str
    status: str
    child_id: str | None
    initials: str
    age: int | None
    placement: str | None
    opened_at: datetime
    last_seen_at: datetime | None
    last_seen_text: str | None
    last_seen_location: str | None
    returned_at: datetime | None
    returned_by: str | None
    safe_and_well: bool | None
    police_reference: str | None
    risk_level: str | None
    risk_notes: str | None
    description: str | None
    clothing: str | None
    reported_by: str | None
    reporter_name: str | None
    reporter_phone: str | None
    sender_known: bool
    sender_verified: bool | None
    child_name_given: str | None
    match_method: str | None
    absence_type: str
    needs_confirmation: bool
    confirmation_reason: str | None
    allocations: dict[str, Any]
    void_reason: str | None
    merged_into: str | None


@dataclass(frozen=True)
class TimelineMessage:
    inbound_id: int
    event: str
    at: datetime
    received_at: datetime
    mail_from: str | None
    summary: dict[str, Any]
    purged: bool


@dataclass(frozen=True)
class AlertLine:
    id: int
    event: str
    role: str
    recipient: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    subject: str


@dataclass(frozen=True)
class Change:
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class InterviewFacts:
    due_at: datetime
    status: str
    overdue: bool
    held_on: date | None
    interviewer: str | None
    reason_codes: tuple[str, ...]
    reason_not_held: str | None
    risks: str | None
    actions: str | None
    recorded_at: datetime | None


@dataclass(frozen=True)
class EpisodePage:
    facts: EpisodeFacts
    messages: list[TimelineMessage]
    alerts: list[AlertLine]
    acks: list[Ack]
    changes: list[Change]
    interview: InterviewFacts | None
    next_action: NextAction | None
    history: list[dict[str, Any]]  # casework: who changed what, old and new, and why


def episode_page(session: Session, reference: str, *, today: date) -> EpisodePage | None:
    """Everything the episode page shows, or None for an unknown reference."""
    row = session.execute(
        select(Episode, Child.first_name, Child.last_name, Child.date_of_birth, Placement.name)
        .outerjoin(Child, Child.child_id == Episode.child_id)
        .outerjoin(Placement, Placement.id == Child.placement_id)
        .where(Episode.reference == reference.upper())
    ).first()
    if row is None:
        return None
    ep, first, last, born, placement = row
    facts = EpisodeFacts(
        id=ep.id,
        reference=ep.reference,
        status=ep.status,
        child_id=ep.child_id,
        initials=initials(first, last) if first is not None else "?",
        age=age_on(born, today),
        placement=placement,
        opened_at=ep.opened_at,
        last_seen_at=ep.last_seen_at,
        last_seen_text=ep.last_seen_text,
        last_seen_location=ep.last_seen_location,
        returned_at=ep.returned_at,
        returned_by=ep.returned_by,
        safe_and_well=ep.safe_and_well,
        police_reference=ep.police_reference,
        risk_level=ep.risk_level,
        risk_notes=ep.risk_notes,
        description=ep.description,
        clothing=ep.clothing,
        reported_by=ep.reported_by,
        reporter_name=ep.reporter_name,
        reporter_phone=ep.reporter_phone,
        sender_known=ep.sender_known,
        sender_verified=ep.sender_verified,
        child_name_given=ep.child_name_given,
        match_method=ep.match_method,
        absence_type=ep.absence_type,
        needs_confirmation=bool(ep.needs_confirmation),
        confirmation_reason=ep.confirmation_reason,
        allocations=dict(ep.allocations or {}),
        void_reason=ep.void_reason,
        merged_into=ep.merged_into,
    )
    messages = [
        TimelineMessage(iid, event, at, received, sender, dict(summary or {}), purged is not None)
        for iid, event, at, received, sender, summary, purged in session.execute(
            select(
                EpisodeMessage.inbound_id,
                EpisodeMessage.event,
                EpisodeMessage.at,
                InboundMessage.received_at,
                InboundMessage.mail_from,
                EpisodeMessage.summary,
                InboundMessage.purged_at,
            )
            .join(InboundMessage, InboundMessage.id == EpisodeMessage.inbound_id)
            .where(EpisodeMessage.episode_id == ep.id)
            .order_by(EpisodeMessage.at, EpisodeMessage.id)
        )
    ]
    alerts = [
        AlertLine(*r)
        for r in session.execute(
            select(
                Alert.id,
                Alert.event,
                Alert.role,
                Alert.recipient,
                Alert.status,
                Alert.created_at,
                Alert.sent_at,
                Alert.subject,
            )
            .where(Alert.episode_id == ep.id)
            .order_by(Alert.created_at, Alert.id)
        )
    ]
    changes = [
        Change(at, actor, action, dict(detail or {}))
        for at, actor, action, detail in session.execute(
            select(AuditEntry.at, AuditEntry.actor, AuditEntry.action, AuditEntry.detail)
            .where(
                AuditEntry.entity == "episode",
                AuditEntry.entity_id == ep.reference,
                AuditEntry.action.not_in(("viewed", "view_denied", "downloaded")),
            )
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    ]
    iv = session.scalars(select(Interview).where(Interview.episode_id == ep.id)).first()
    interview = (
        InterviewFacts(
            iv.due_at,
            iv.status,
            iv.overdue,
            iv.held_on,
            iv.interviewer,
            tuple(iv.reason_codes or ()),
            iv.reason_not_held,
            iv.risks,
            iv.actions,
            iv.recorded_at,
        )
        if iv is not None
        else None
    )
    return EpisodePage(
        facts=facts,
        messages=messages,
        alerts=alerts,
        acks=_acks(session, Episode.id == ep.id).get(ep.id, []),
        changes=changes,
        interview=interview,
        next_action=_next_actions(session, Episode.id == ep.id).get(ep.id),
        history=episode_store.history(session, ep.id),
    )


def message_raw(session: Session, *, reference: str, inbound_id: int) -> bytes | None:
    """The raw bytes of a message attached to the episode; None if not attached or purged."""
    return session.execute(
        select(InboundMessage.raw)
        .join(EpisodeMessage, EpisodeMessage.inbound_id == InboundMessage.id)
        .join(Episode, Episode.id == EpisodeMessage.episode_id)
        .where(Episode.reference == reference.upper(), InboundMessage.id == inbound_id)
    ).scalar()


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
        _scoped(q, scope)
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
