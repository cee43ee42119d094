"""Episodes as operators and scripts see them: the JSON contract and a readable timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.store.models import Episode, EpisodeMessage, InboundMessage


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def episode_messages(session: Session, episode_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Messages per episode in one query, oldest first."""
    rows = session.execute(
        select(EpisodeMessage, InboundMessage.message_id, InboundMessage.mail_from)
        .join(InboundMessage, InboundMessage.id == EpisodeMessage.inbound_id)
        .where(EpisodeMessage.episode_id.in_(episode_ids))
        .order_by(EpisodeMessage.episode_id, EpisodeMessage.at, EpisodeMessage.id)
    ).all()
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in episode_ids}
    for link, message_id, mail_from in rows:
        out[link.episode_id].append(
            {
                "id": link.inbound_id,
                "message_id": message_id,
                "event": link.event,
                "at": _iso(link.at),
                "mail_from": mail_from,
                "reason": (link.summary or {}).get("reason"),
                "attachments": (link.summary or {}).get("attachments", []),
                # Absent (None) on messages linked before the sender check existed.
                "sender_verified": (link.summary or {}).get("sender_verified"),
                "sender_check": (link.summary or {}).get("sender_check"),
                "not_read": (link.summary or {}).get("not_read", []),
            }
        )
    return out


def episode_json(ep: Episode, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The fields DESIGN.md promises, plus what staff need to act."""
    return {
        "reference": ep.reference,
        "child_id": ep.child_id,
        "status": ep.status,
        "opened_at": _iso(ep.opened_at),
        "last_seen_at": _iso(ep.last_seen_at),
        "last_seen_text": ep.last_seen_text,
        "last_seen_location": ep.last_seen_location,
        "returned_at": _iso(ep.returned_at),
        "returned_by": ep.returned_by,
        "safe_and_well": ep.safe_and_well,
        "police_reference": ep.police_reference,
        "risk_level": ep.risk_level,
        "risk_notes": ep.risk_notes,
        "description": ep.description,
        "clothing": ep.clothing,
        "reported_by": ep.reported_by,
        "reporter_name": ep.reporter_name,
        "reporter_phone": ep.reporter_phone,
        "sender_known": ep.sender_known,
        # The first report's sender check (docs/trust.md); None on episodes opened before it.
        "sender_verified": ep.sender_verified,
        "child_name_given": ep.child_name_given,
        "match_method": ep.match_method,
        "match_confidence": ep.match_confidence,
        "allocations": ep.allocations,
        "absence_type": ep.absence_type,
        "needs_confirmation": bool(ep.needs_confirmation),
        "confirmation_reason": ep.confirmation_reason,
        "message_ids": [m["message_id"] or f"id:{m['id']}" for m in messages],
        "messages": messages,
    }


def list_episodes(session: Session, *, open_only: bool = False) -> list[dict[str, Any]]:
    q = select(Episode).order_by(Episode.opened_at, Episode.id)
    if open_only:
        q = q.where(Episode.status == "open")
    episodes = list(session.scalars(q))
    messages = episode_messages(session, [e.id for e in episodes])
    return [episode_json(e, messages[e.id]) for e in episodes]


def find_episode(session: Session, reference: str) -> dict[str, Any] | None:
    ep = session.scalars(select(Episode).where(Episode.reference == reference.upper())).first()
    if ep is None:
        return None
    return episode_json(ep, episode_messages(session, [ep.id])[ep.id])


def render_timeline(data: dict[str, Any]) -> str:
    """A plain-text view for a terminal; never the carers' bodies, only the facts."""
    lines = [
        f"{data['reference']}  {data['status'].upper()}  child {data['child_id'] or 'UNMATCHED'}"
        f"  (matched by {data['match_method']})",
        f"  last seen:   {data['last_seen_at'] or 'not stated'}"
        f"  at {data['last_seen_location'] or 'not stated'}",
        f"  police ref:  {data['police_reference'] or 'not stated'}",
        f"  risk:        {data['risk_level'] or 'not stated'}",
        f"  reported by: {data['reported_by'] or 'unknown'}"
        f" ({'known carer' if data['sender_known'] else 'sender not on the child record'})",
        f"  sender:      {'verified' if data['sender_verified'] else 'NOT VERIFIED'}"
        " (docs/trust.md)",
        f"  returned:    {data['returned_at'] or '-'}",
        f"  absence:     {data['absence_type']} (SSDA903: "
        f"{'away from placement' if data['absence_type'] == 'A' else 'missing'})",
        "  timeline:",
    ]
    lines += [
        f"    {m['at']}  {m['event']:<10} message {m['id']} {m['message_id'] or ''}"
        for m in data["messages"]
    ]
    return "\n".join(lines)
