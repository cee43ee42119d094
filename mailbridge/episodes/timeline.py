"""Episodes as operators and scripts see them: the JSON contract and a readable timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailbridge.store import episodes as episode_store
from mailbridge.store import tx
from mailbridge.store.models import Episode


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def episode_messages(session: tx.Tx, episode_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Messages per episode in one query, oldest first."""
    rows = episode_store.message_links(session, episode_ids)
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
                # Where this message's facts came from (the sentence or form line) and what
                # the reader could not settle; absent on messages read before issue 13.
                "facts_from": (link.summary or {}).get("facts_from", {}),
                "doubts": (link.summary or {}).get("doubts", []),
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
        # The child's placement authority when the episode opened (docs/out-of-area.md).
        "placement_authority": ep.placement_authority,
        "needs_confirmation": bool(ep.needs_confirmation),
        "confirmation_reason": ep.confirmation_reason,
        # Casework (docs/casework.md): why it is void, and the episode it was merged into.
        "void_reason": ep.void_reason,
        "merged_into": ep.merged_into,
        "message_ids": [m["message_id"] or f"id:{m['id']}" for m in messages],
        "messages": messages,
        "facts_from": _facts_from(messages),
    }


def _facts_from(messages: list[dict[str, Any]]) -> dict[str, str]:
    """Each fact's source as the episode shows it: the latest message that stated it."""
    out: dict[str, str] = {}
    for m in messages:
        out.update({k: v for k, v in (m.get("facts_from") or {}).items() if v})
    return out


def list_episodes(session: tx.Tx, *, open_only: bool = False) -> list[dict[str, Any]]:
    episodes = episode_store.listing(session, open_only=open_only)
    messages = episode_messages(session, [e.id for e in episodes])
    return [episode_json(e, messages[e.id]) for e in episodes]


def find_episode(session: tx.Tx, reference: str) -> dict[str, Any] | None:
    ep = episode_store.by_reference(session, reference)
    if ep is None:
        return None
    return episode_json(ep, episode_messages(session, [ep.id])[ep.id])


def render_timeline(data: dict[str, Any]) -> str:
    """A plain-text view for a terminal: the facts, and the line each was read from (issue 13);
    never the carers' whole bodies."""
    sources = data.get("facts_from") or {}

    def source(name: str) -> list[str]:
        said = sources.get(name)
        return [f"  from:        '{' '.join(str(said).split())[:200]}'"] if said else []

    lines = [
        f"{data['reference']}  {data['status'].upper()}  child {data['child_id'] or 'UNMATCHED'}"
        f"  (matched by {data['match_method']})",
    ]
    if data.get("needs_confirmation"):
        lines.append(f"  CONFIRM:     {data.get('confirmation_reason') or 'needs confirmation'}")
    lines += [
        f"  last seen:   {data['last_seen_at'] or 'not stated'}"
        f"  at {data['last_seen_location'] or 'not stated'}",
        *(source("last_seen") if data["last_seen_at"] else []),
        f"  police ref:  {data['police_reference'] or 'not stated'}",
        *(source("police_reference") if data["police_reference"] else []),
        f"  risk:        {data['risk_level'] or 'not stated'}",
        f"  reported by: {data['reported_by'] or 'unknown'}"
        f" ({'known carer' if data['sender_known'] else 'sender not on the child record'})",
        f"  sender:      {'verified' if data['sender_verified'] else 'NOT VERIFIED'}"
        " (docs/trust.md)",
        f"  returned:    {data['returned_at'] or '-'}",
        *(source("returned_at") if data["returned_at"] else []),
        f"  absence:     {data['absence_type']} (SSDA903: "
        f"{'away from placement' if data['absence_type'] == 'A' else 'missing'})",
        "  timeline:",
    ]
    if data.get("void_reason"):
        lines.insert(1, f"  void:        {data['void_reason']}")
    if data.get("needs_confirmation"):
        lines.insert(1, f"  CHECK:       {data['confirmation_reason'] or 'needs confirmation'}")
    lines += [
        f"    {m['at']}  {m['event']:<10} message {m['id']} {m['message_id'] or ''}"
        for m in data["messages"]
    ]
    if data.get("history"):
        lines.append("  history:")
        lines += [
            f"    {h['when']}  {h['who']}: {h['what']} {h['old']!s} -> {h['new']!s}"
            + (f" ({h['note']})" if h["note"] else "")
            for h in data["history"]
        ]
    return "\n".join(lines)
