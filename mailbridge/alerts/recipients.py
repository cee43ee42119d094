"""Who an alert goes to, beyond what the routing tree says: the routing event of an episode
(with the placement authority it opened under), people added to a routed list without doubles,
the duty desk told of a withheld police profile, and how a receipt names who was told.

Pure: routing values in, recipients out (docs/out-of-area.md, docs/alerts.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from mailbridge.alerts.profiles import Profile
from mailbridge.directory.records import ChildRecord
from mailbridge.routing.rules import DUTY, Event, Recipient, Routing, event_for_child
from mailbridge.store.models import Episode

# How a receipt names who was told, by role.
PASSED_TO = {
    "social_worker": "the allocated social worker",
    "iro": "the Independent Reviewing Officer",
    "team_manager": "the team manager",
    "duty": "the duty desk",
    "edt": "the out-of-hours team",
    "host_authority": "the council where the child is placed",
    "police": "the police",
}


def passed_to(recipients: Iterable[Recipient]) -> list[str]:
    """What a receipt says the report was passed to: each role once, in routing order."""
    roles = [r for recipient in recipients for r in (recipient.roles or (recipient.role,))]
    return [PASSED_TO[r] for r in dict.fromkeys(roles) if r in PASSED_TO] or ["the duty desk"]


def widen(recipients: list[Recipient], more: Iterable[Recipient]) -> list[Recipient]:
    """``recipients`` and those of ``more`` at an address not yet on the list, in order."""
    have = {r.address.lower() for r in recipients}
    out = list(recipients)
    for r in more:
        if r.address.lower() not in have:
            have.add(r.address.lower())
            out.append(r)
    return out


def placed(event: Event, episode: Episode) -> Event:
    """Route by the placement authority the episode opened under, as with allocations."""
    if episode.placement_authority:
        return replace(event, placement_authority=episode.placement_authority)
    return event

def tell_duty_of_profile(
    recipients: list[Recipient], routing: Routing, child_id: str, profile: Profile
) -> list[Recipient]:
    """A withheld profile is a job for a person: duty is told why and what to do."""
    note = (
        f"The Philomena profile of child {child_id} was not sent to the police: "
        f"{profile.withheld}. Send it to them by a secure route."
    )
    duty = routing.roles[DUTY]
    out: list[Recipient] = []
    told = False
    for r in recipients:
        if r.address.lower() == duty.address.lower():
            out.append(replace(r, note="; ".join(filter(None, (r.note, note)))))
            told = True
        else:
            out.append(r)
    if not told:
        out.append(
            Recipient(
                DUTY,
                duty.address,
                duty.name,
                "profile withheld",
                note,
                (DUTY,),
                ("profile withheld",),
            )
        )
    return out


def routing_event(
    kind: str,
    at: datetime,
    child: ChildRecord | None,
    episode: Episode,
    *,
    sender_known: bool,
    sender_verified: bool,
) -> Event:
    """The routing event of ``episode`` at ``at``: its child's staff, its risk, and the
    placement authority it opened under."""
    return placed(
        event_for_child(
            kind,
            at,
            child,
            episode.allocations,
            risk=episode.risk_level,
            sender_known=sender_known,
            sender_verified=sender_verified,
        ),
        episode,
    )
