"""The reads behind one episode's page: its facts, timeline, alerts, changes and interview, and
a message's raw bytes for download. Plain frozen values out, as in ``views``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.store import episodes as episode_store
from mailbridge.store.models import (
    Alert,
    AuditEntry,
    Child,
    Episode,
    EpisodeMessage,
    InboundMessage,
    Interview,
    Placement,
)
from mailbridge.store.views import Ack, NextAction, acks_of, age_on, initials, next_actions

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
        acks=acks_of(session, Episode.id == ep.id).get(ep.id, []),
        changes=changes,
        interview=interview,
        next_action=next_actions(session, Episode.id == ep.id).get(ep.id),
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


