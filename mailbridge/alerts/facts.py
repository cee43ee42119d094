"""The facts an alert shows (``alert_facts.AlertFacts``), gathered from an episode, a message and
the child's record.

Plain values in, plain values out: the Notifier (outbox.py) looks the rows up and queues what is
rendered from these. ``checks_senders`` is False when no sender check is configured: a warning
on every alert would soon be read past (docs/trust.md).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from mailbridge.alerts.alert_facts import AlertFacts
from mailbridge.directory.records import ChildRecord
from mailbridge.reading.fields import ReportFields
from mailbridge.reading.match import Match
from mailbridge.reading.message import ReadMessage, read_message
from mailbridge.reading.trust import Verdict
from mailbridge.routing.rules import DUTY, Routing
from mailbridge.store.models import Episode, InboundMessage

# What a timed alert says of the sender check of the report that opened the episode.
EPISODE_VERIFIED = "the report that opened this episode was verified"
EPISODE_UNVERIFIED = "the report that opened this episode was not verified"


def episode_facts(
    event: str,
    episode: Episode,
    child: ChildRecord | None,
    *,
    now: datetime,
    note: str | None,
    checks_senders: bool,
) -> AlertFacts:
    """The facts of an episode as it stands, for an alert that no new message caused."""
    return AlertFacts(
        event=event,
        received_at=now,
        reference=episode.reference,
        child_id=episode.child_id,
        child_first_name=child.first_name if child else None,
        child_last_name=child.last_name if child else None,
        child_name_given=episode.child_name_given,
        child_date_of_birth=child.date_of_birth if child else None,
        placement_name=child.placement_name if child else None,
        risk_level=episode.risk_level,
        last_seen_at=episode.last_seen_at,
        last_seen_location=episode.last_seen_location,
        police_reference=episode.police_reference,
        returned_at=episode.returned_at,
        returned_by=episode.returned_by,
        reported_by=episode.reported_by,
        sender_known=episode.sender_known,
        sender_verified=bool(episode.sender_verified) if checks_senders else None,
        sender_check=(
            (EPISODE_VERIFIED if episode.sender_verified else EPISODE_UNVERIFIED)
            if checks_senders
            else None
        ),
        episode_status=episode.status,
        note=note or None,
    )


def message_facts(
    event: str,
    *,
    episode: Episode | None,
    message: InboundMessage,
    read: ReadMessage | None,
    match: Match | None,
    child: ChildRecord | None,
    fields: ReportFields | None = None,
    sender_known: bool = False,
    error: str | None = None,
    trust: Verdict | None = None,
    checks_senders: bool,
) -> AlertFacts:
    """The facts of the episode as it now stands, and of this message and its sender."""
    e = episode
    sender = (read.from_addr if read else None) or message.mail_from
    limits = {"not_read": "; ".join(read.limits)} if read is not None and read.limits else {}
    return AlertFacts(
        event=event,
        reference=e.reference if e else None,
        child_id=e.child_id if e else None,
        child_first_name=child.first_name if child else None,
        child_last_name=child.last_name if child else None,
        child_name_given=e.child_name_given if e else None,
        child_date_of_birth=child.date_of_birth if child else None,
        placement_name=child.placement_name if child else None,
        risk_level=e.risk_level if e else None,
        risk_notes=e.risk_notes if e else None,
        last_seen_at=e.last_seen_at if e else None,
        last_seen_text=e.last_seen_text if e else None,
        last_seen_location=e.last_seen_location if e else None,
        police_reference=e.police_reference if e else None,
        description=e.description if e else None,
        clothing=e.clothing if e else None,
        reported_by=sender,
        reporter_name=fields.reporter_name if fields else None,
        reporter_phone=fields.reporter_phone if fields else None,
        sender_known=sender_known,
        sender_verified=trust.verified if trust is not None and checks_senders else None,
        sender_check=trust.reason if trust is not None and checks_senders else None,
        returned_at=e.returned_at if e else None,
        returned_by=e.returned_by if e else None,
        safe_and_well=e.safe_and_well if e else None,
        match_method=match.method if match else (e.match_method if e else None),
        match_confidence=match.confidence if match else (e.match_confidence if e else None),
        match_note=match.note if match else None,
        carer_text=read.text if read else "",
        subject_given=read.subject if read else "",
        attachments=[(a.name, a.content_type, a.size) for a in read.attachments]
        if read
        else [],
        received_at=message.received_at,
        episode_status=e.status if e else None,
        error=error,
        message_id=message.message_id,
        inbound_id=message.id,
        extra=limits,
    )


def outside_facts(
    facts: AlertFacts, episode: Episode, child: ChildRecord | None, routing: Routing
) -> AlertFacts:
    """What the host authority and the police need beyond the episode's own facts."""
    authorities = routing.authorities
    given = episode.placement_authority or (child.placement_authority if child else None)
    host = authorities.find(given)
    own = authorities.own
    interviewer = authorities.interviewer(given)
    contacts: list[str] = []
    held = (episode.allocations or {}).get("social_worker") or {}
    if held.get("email"):
        who = f"{held['name']}, allocated social worker" if held.get("name") else None
        contacts.append(f"{who or 'Allocated social worker'}: {held['email']}")
    for role, label in ((DUTY, "Duty desk"), ("edt", "Emergency duty team, out of hours")):
        contact = routing.roles.get(role)
        if contact is not None:
            who = f"{contact.name}, out of hours" if contact.name and role != DUTY else None
            contacts.append(f"{who or contact.name or label}: {contact.address}")
    return replace(
        facts,
        date_of_birth=child.date_of_birth if child else None,
        placement_postcode=child.placement_postcode if child else None,
        placement_authority_name=host.name if host else given,
        placing_council=own.name if own else None,
        placing_contacts=tuple(contacts),
        interview_by=(
            f"{interviewer.name} ({'placing council' if interviewer.own else 'host authority'})"
            if interviewer is not None
            else None
        ),
    )


_SOURCE_LABELS = {
    "last_seen": "last_seen_from",
    "last_seen_location": "where_last_seen_from",
    "returned_at": "returned_at_from",
    "returned_by": "returned_by_from",
    "safe_and_well": "safe_and_well_from",
    "police_reference": "police_reference_from",
    "risk_level": "risk_level_from",
}


def provenance(fields: ReportFields | None) -> dict[str, str]:
    """Where each fact of this message came from, as alert "extra" rows (quoted, one line)."""
    if fields is None:
        return {}
    return {
        label: f"'{' '.join(fields.sources[name].split())[:200]}'"
        for name, label in _SOURCE_LABELS.items()
        if fields.sources.get(name)
    }


def read_stored(message: InboundMessage) -> ReadMessage | None:
    """The stored message read again (for a late alert that shows the report); None when its
    raw bytes were purged or cannot be read: the alert then shows the episode's facts only."""
    if not message.raw:
        return None
    try:
        return read_message(message.raw)
    except Exception:
        return None
