"""What ``mailbridge routes test`` shows of one routed event: text lines and the JSON object.

Pure. The JSON fields are part of the public contract (DESIGN.md); the lines are for people.
"""

from __future__ import annotations

from typing import Any

from mailbridge.routing.rules import Event, Routed, Routing


def routed_lines(routing: Routing, event: Event, routed: Routed) -> list[str]:
    """What `mailbridge routes test` prints: the event as routing saw it, then who and why."""
    local = event.at.astimezone(routing.tz)
    who = f"child {event.child_id}" if event.child_id else "no child"
    if event.placement_type or event.placement_name:
        where = ", ".join(p for p in (event.placement_type, event.placement_name) if p)
        who += f" ({where})"
    if event.child_id and event.placement_authority:
        authority = routing.authorities.find(event.placement_authority)
        area = authority.name if authority else f"{event.placement_authority}, not in the file"
        own = authority is not None and authority.own
        who += f", placed in {area} ({'own area' if own else 'out of area'})"
    lines = [
        f"event:      {event.name}, {who}, risk {event.risk or 'not stated'}, "
        f"sender {'known' if event.sender_known else 'unknown'}, "
        f"{'verified' if event.sender_verified else 'not verified'}",
        f"at:         {local:%a %Y-%m-%d %H:%M %Z} ({routing.timezone}): "
        f"{routed.hours.replace('_', ' ')}",
        f"rules:      {', '.join(routed.matched)} (from {routing.source})",
        "recipients:",
    ]
    rows = [
        (
            ", ".join(r.roles or (r.role,)),
            f"{r.name} <{r.address}>" if r.name else r.address,
            "rule " + ", ".join(r.rules or (r.rule,)),
        )
        for r in routed.recipients
    ]
    w0 = max((len(a) for a, _, _ in rows), default=0)
    w1 = max((len(b) for _, b, _ in rows), default=0)
    for (roles, address, rules), r in zip(rows, routed.recipients, strict=True):
        line = f"  {roles:<{w0}}  {address:<{w1}}  {rules}"
        if r.note:
            line += f"  ({r.note})"
        lines.append(line.rstrip())
    return lines


def routed_json(routing: Routing, event: Event, routed: Routed) -> dict[str, Any]:
    return {
        "event": event.name,
        "child_id": event.child_id,
        "at": event.at.astimezone(routing.tz).isoformat(),
        "hours": routed.hours,
        "risk": event.risk,
        "sender_known": event.sender_known,
        "sender_verified": event.sender_verified,
        "placement_authority": event.placement_authority,
        "out_of_area": event.child_id is not None
        and routing.authorities.out_of_area(event.placement_authority),
        "matched": list(routed.matched),
        "routing_file": routing.source,
        "recipients": [r.as_json() for r in routed.recipients],
    }
