"""Applying a decision to the store: find the thread or the child's open episode, open,
update or close the episode, link the message and write the audit line.

The glue between the pure decision (``episodes.machine.decide``) and the rows, inside the
worker's transaction; every query goes through the store gateway.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailbridge.episodes.absence import MISSING, AbsenceType, reclassify
from mailbridge.episodes.machine import OPEN, RETURNED, Decision, EpisodeState
from mailbridge.episodes.prepare import Reading
from mailbridge.reading.fields import ReportFields
from mailbridge.reading.match import Match
from mailbridge.reading.message import ReadMessage
from mailbridge.store import directory, inbound, tx
from mailbridge.store import episodes as episode_rows
from mailbridge.store.episodes import next_reference
from mailbridge.store.models import Episode, InboundMessage

REFERENCE = re.compile(r"\bMB-(\d{4})-(\d{5,})\b", re.IGNORECASE)


# -- lookups ----------------------------------------------------------------------------


def state_of(ep: Episode) -> EpisodeState:
    return EpisodeState(ep.id, ep.reference, ep.child_id, ep.status, ep.opened_at)


def note(
    session: tx.Tx,
    message: InboundMessage,
    reference: str,
    action: str,
    *,
    actor: str = "worker",
    **detail: object,
) -> None:
    """One audit line about an episode, caused by ``message``."""
    inbound.audit(
        session,
        at=message.received_at,
        actor=actor,
        entity="episode",
        entity_id=reference,
        action=action,
        detail={**detail, "message": message.id},
    )


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def who(session: tx.Tx, child_id: str | None, fields: ReportFields) -> str:
    """The child as an alert may name them: initials (J.C.), else "the child"."""
    child = directory.get_child(session, child_id) if child_id else None
    if child is not None and child.first_name and child.last_name:
        return f"{child.first_name[:1]}.{child.last_name[:1]}."
    given = (fields.full_name or "").split()
    if len(given) >= 2:
        return f"{given[0][:1]}.{given[-1][:1]}."
    return "the child"


def find_thread(session: tx.Tx, msg: ReadMessage) -> EpisodeState | None:
    """A reply belongs to the episode of the message it answers, or of the reference it cites."""
    refs = [r for r in [msg.in_reply_to, *msg.references] if r]
    if refs:
        ep = episode_rows.latest_in_thread(session, refs)
        if ep is not None:
            return state_of(ep)
    found = REFERENCE.search(msg.subject) or REFERENCE.search(msg.text)
    if found:
        reference = f"MB-{found.group(1)}-{found.group(2)}"
        ep = episode_rows.with_reference(session, reference)
        if ep is not None:
            return state_of(ep)
    return None


def already_applied(session: tx.Tx, inbound_id: int) -> str | None:
    """Reprocessing must not apply a message twice (nor, later, alert twice)."""
    return episode_rows.applied_to(session, inbound_id)


def open_episode_for_child(session: tx.Tx, child_id: str) -> EpisodeState | None:
    """The child's open episode, with the child locked for this transaction (so two workers
    never both open a first episode; see ``store.episodes.lock_open_of_child``)."""
    ep = episode_rows.lock_open_of_child(session, child_id)
    return state_of(ep) if ep is not None else None


def open_unmatched_from(session: tx.Tx, sender: str) -> EpisodeState | None:
    eps = episode_rows.open_unmatched_from(session, sender)
    return state_of(eps[0]) if len(eps) == 1 else None


# -- applying a decision ----------------------------------------------------------------


def apply(
    session: tx.Tx,
    decision: Decision,
    reading: Reading,
    message: InboundMessage,
    *,
    match: Match | None,
    child_id: str | None,
    sender: str | None,
    tz: ZoneInfo,
) -> Episode:
    now = message.received_at
    f = reading.fields
    if decision.action in ("open", "open_closed"):
        episode = _new_episode(
            session, reading, message, match=match, child_id=child_id, sender=sender, tz=tz
        )
    else:
        assert decision.episode is not None
        found = episode_rows.get(session, decision.episode.id)
        assert found is not None
        episode = found
        _merge_facts(episode, f)
        if f.absence_type is not None:
            _reclassify_from_report(session, episode, f.absence_type, message, sender=sender)
    if decision.action in ("close", "open_closed"):
        episode.status = RETURNED
        episode.returned_at = f.returned_at or reading.message.date or now
        episode.returned_by = f.returned_by or episode.returned_by
        if f.safe_and_well is not None:
            episode.safe_and_well = f.safe_and_well
    episode.updated_at = now
    episode_rows.link_message(
        session,
        episode.id,
        message.id,
        event=decision.event,
        at=now,
        summary={
            "kind": reading.kind,
            "reason": decision.reason,
            "classification": reading.reason,
            "match": (
                {"method": match.method, "confidence": match.confidence, "note": match.note}
                if match is not None
                else {"method": "thread", "confidence": 1.0, "note": "reply in the thread"}
            ),
            # Listed, not inlined: the bytes stay in the stored raw mail.
            "attachments": [
                {"name": a.name, "content_type": a.content_type, "size": a.size}
                for a in reading.message.attachments
            ],
            "sender_verified": reading.trust.verified,
            "sender_check": reading.trust.reason,
            # Where each fact came from (the sentence or form line), and what was unsure.
            "facts_from": dict(reading.fields.sources),
            "doubts": list(reading.doubts),
            # Parts past the [reading] limits, which were not read (the raw mail is whole).
            "not_read": list(reading.message.limits),
        },
    )
    episode_rows.audit(
        session,
        episode,
        decision.event,
        actor="worker",
        at=now,
        detail={
            "message": message.id,
            "action": decision.action,
            "status": episode.status,
            "absence_type": episode.absence_type,
        },
    )
    return episode


def _reclassify_from_report(
    session: tx.Tx,
    episode: Episode,
    code: AbsenceType,
    message: InboundMessage,
    *,
    sender: str | None,
) -> None:
    """An update may change the SSDA903 code when its sender is on the record.

    The record is the first reporter, the child's carers and the staff allocated to the child.
    Anyone else who replies in the thread is heard (the update still alerts) but does not
    change the national return; the audit says the request was not applied.
    """
    if sender and sender in on_record_of(session, episode):
        reclassify(
            session,
            episode,
            code,
            actor=sender,
            at=message.received_at,
            source="report",
            message=message.id,
        )
    elif code != episode.absence_type:
        episode_rows.audit(
            session,
            episode,
            "absence_type_not_applied",
            actor=sender or "unknown",
            at=message.received_at,
            detail={
                "asked": code,
                "kept": episode.absence_type,
                "message": message.id,
                "why": "the sender is not the reporter, a carer or allocated staff",
            },
        )


def on_record_of(session: tx.Tx, episode: Episode) -> set[str]:
    known = {(episode.reported_by or "").lower()}
    child = directory.child_row(session, episode.child_id) if episode.child_id else None
    if child is not None:
        known |= {a.lower() for a in child.carer_emails}
    for holder in (episode.allocations or {}).values():
        if isinstance(holder, dict) and holder.get("email"):
            known.add(str(holder["email"]).lower())
    known.discard("")
    return known


def _new_episode(
    session: tx.Tx,
    reading: Reading,
    message: InboundMessage,
    *,
    match: Match | None,
    child_id: str | None,
    sender: str | None,
    tz: ZoneInfo,
) -> Episode:
    f = reading.fields
    now = message.received_at
    child = directory.child_row(session, child_id) if child_id else None
    carers = {a.lower() for a in child.carer_emails} if child is not None else set()
    episode = Episode(
        reference=next_reference(session, now.astimezone(tz).year),
        child_id=child_id,
        status=OPEN,
        opened_at=now,
        sender_known=bool(sender and sender in carers),
        sender_verified=reading.trust.verified,
        reported_by=sender,
        reporter_name=f.reporter_name,
        reporter_phone=f.reporter_phone,
        child_name_given=f.full_name or f.first_name,
        match_method=match.method if match else "thread",
        match_confidence=match.confidence if match else 1.0,
        allocations=_allocations(session, child_id),
        placement_authority=child.placement_authority if child is not None else None,
        absence_type=f.absence_type or MISSING,
        updated_at=now,
    )
    _merge_facts(episode, f)
    return episode_rows.insert(session, episode)


def _merge_facts(episode: Episode, f: ReportFields) -> None:
    """Later reports add and correct facts; a blank never erases what is known."""
    for name in (
        "last_seen_at",
        "last_seen_text",
        "last_seen_location",
        "police_reference",
        "risk_level",
        "risk_notes",
        "description",
        "clothing",
    ):
        value = getattr(f, name)
        if value is not None and value != "":
            setattr(episode, name, value)
    if episode.reporter_name is None and f.reporter_name:
        episode.reporter_name = f.reporter_name
    if episode.reporter_phone is None and f.reporter_phone:
        episode.reporter_phone = f.reporter_phone


def _allocations(session: tx.Tx, child_id: str | None) -> dict[str, Any]:
    return dict(directory.current_allocations(session, child_id)) if child_id else {}
