"""Who must hear about an event: an Alertmanager-style routing tree over plain data.

Pure: ``route`` reads only its arguments, so every rule is tested without I/O
(tests/unit/test_routing.py). This module holds the tree (Event, Route, Routing, Recipient) and
its evaluation; ``loading.py`` reads a routing file into it, ``calendar.py`` says office or out
of hours, ``timer_settings.py`` holds the timer sections and ``explain.py`` prints a dry run.

Evaluation:

- The root is the catch-all. Its ``default`` list applies only when no other route chose anyone,
  so every event reaches someone (duty, in the shipped file).
- Child routes are tried depth first, in file order. A route whose matchers all hold *matches*:
  its ``notify`` list applies and its own child routes are tried in turn.
- The first matching route among siblings wins and the rest are skipped, unless it says
  ``continue: true``; then the following siblings are tried too.
- A role that cannot be resolved (no IRO on record, no matched child) is never skipped quietly:
  duty is alerted instead, with a note that names the missing role.
- Recipients are deduplicated by address; every role and rule that chose an address is kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mailbridge.routing.authorities import Authorities
from mailbridge.routing.calendar import Hours, OfficeHours, hours_at
from mailbridge.routing.timer_settings import (
    EscalationSettings,
    InterviewSettings,
    RepeatMissingSettings,
)

if TYPE_CHECKING:
    from mailbridge.directory.records import ChildRecord

# Events that processing raises today; later issues add escalation and reminder names, which a
# routing file may use once it declares them under ``events:`` (so a typo is still caught).
KNOWN_EVENTS = ("missing", "update", "returned", "unmatched", "not_a_report", "failed")
# Roles held by named staff, copied from the child's allocations when the episode opened.
DIRECTORY_ROLES = ("social_worker", "iro", "team_manager")
# Roles whose addresses the authorities file gives, by the child's placement authority
# (docs/out-of-area.md).
HOST_AUTHORITY = "host_authority"
POLICE = "police"
AUTHORITY_ROLES = (HOST_AUTHORITY, POLICE)
DUTY = "duty"
FIXED = "address"  # the role of a fixed address written straight into a notify list
ROOT = "default"  # the name of the catch-all root route


# -- the data -------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """What happened, with everything routing may look at. ``at`` must be timezone-aware."""

    name: str
    at: datetime
    child_id: str | None = None
    # Child and placement attributes: the directory's extra CSV columns (e.g. locality).
    child: Mapping[str, str] = field(default_factory=dict, hash=False)
    placement_name: str | None = None
    placement_type: str | None = None
    risk: str | None = None  # high / medium / low, or None when not stated
    sender_known: bool = False
    # The sender check passed (docs/trust.md): DMARC/DKIM/SPF from our upstream, or DKIM here.
    sender_verified: bool = False
    # {role: {"name": ..., "email": ...}} as captured on the episode when it opened.
    allocations: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict, hash=False)
    # The authority code (or name) of the area the child is placed in; None: not on record.
    placement_authority: str | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("Event.at must be timezone-aware")

    def attribute(self, key: str) -> str | None:
        """A child or placement attribute by name, as a ``child:`` matcher sees it."""
        if key == "child_id":
            return self.child_id
        if key == "placement_type":
            return self.placement_type
        if key in ("placement_name", "placement"):
            return self.placement_name
        if key == "placement_authority":
            return self.placement_authority
        return self.child.get(key)


@dataclass(frozen=True)
class Matchers:
    """Every given matcher must hold; an absent matcher holds for any event."""

    events: tuple[str, ...] | None = None
    risk: tuple[str, ...] | None = None
    sender_known: bool | None = None
    sender_verified: bool | None = None
    hours: Hours | None = None
    child: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The child's placement authority is (true) or is not (false) another council's area.
    out_of_area: bool | None = None


@dataclass(frozen=True)
class Route:
    name: str
    matchers: Matchers = field(default_factory=Matchers)
    notify: tuple[str, ...] = ()  # role names and/or fixed addresses
    continue_: bool = False
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class Contact:
    address: str
    name: str | None = None


@dataclass(frozen=True)
class Recipient:
    """One address to alert. ``role`` and ``rule`` are the first that chose it; ``roles`` and
    ``rules`` list every one (deduplicated, in order), and ``note`` says why duty stands in."""

    role: str
    address: str
    name: str | None
    rule: str
    note: str | None = None
    roles: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "address": self.address,
            "name": self.name,
            "rule": self.rule,
            "note": self.note,
            "roles": list(self.roles),
            "rules": list(self.rules),
        }


@dataclass(frozen=True)
class Routed:
    """The outcome for one event: who, and the path of routes that matched (for dry runs)."""

    recipients: tuple[Recipient, ...]
    matched: tuple[str, ...]
    hours: Hours


@dataclass(frozen=True)
class Routing:
    source: str
    timezone: str
    office_hours: OfficeHours
    bank_holidays: frozenset[date]
    roles: Mapping[str, Contact]
    fallback: str
    events: tuple[str, ...]
    root: Route
    escalation: EscalationSettings = field(default_factory=EscalationSettings, hash=False)
    interviews: InterviewSettings = field(default_factory=InterviewSettings, hash=False)
    repeat_missing: RepeatMissingSettings = field(default_factory=RepeatMissingSettings, hash=False)
    # Where host_authority and police addresses come from (settings attach the file's content).
    authorities: Authorities = field(default_factory=Authorities, hash=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours(self, at: datetime) -> Hours:
        """Office or out of hours at ``at``, read in the routing zone; bank holidays are out."""
        return hours_at(at, self.tz, self.office_hours, self.bank_holidays)

    def rule_names(self) -> list[str]:
        return [r.name for r in _walk(self.root)]

    def route(self, event: Event) -> Routed:
        return route(self, event)


def _walk(route: Route) -> Iterator[Route]:
    yield route
    for child in route.routes:
        yield from _walk(child)


# -- evaluation -----------------------------------------------------------------------


def matches(m: Matchers, event: Event, hours: Hours, *, out_of_area: bool = False) -> bool:
    if m.events is not None and event.name not in m.events:
        return False
    if m.risk is not None and (event.risk or "unknown").lower() not in m.risk:
        return False
    if m.sender_known is not None and event.sender_known != m.sender_known:
        return False
    if m.sender_verified is not None and event.sender_verified != m.sender_verified:
        return False
    if m.hours is not None and hours != m.hours:
        return False
    if m.out_of_area is not None and out_of_area != m.out_of_area:
        return False
    for key, wanted in m.child:
        value = event.attribute(key)
        if value is None or _fold(str(value)) not in {_fold(w) for w in wanted}:
            return False
    return True


def _fold(value: str) -> str:
    # "Children’s home" typed with a curly apostrophe in a spreadsheet still matches.
    return " ".join(value.replace("\u2019", "'").split()).casefold()


def _descend(route: Route, event: Event, hours: Hours, out: list[Route], *, away: bool) -> None:
    for child in route.routes:
        if matches(child.matchers, event, hours, out_of_area=away):
            out.append(child)
            _descend(child, event, hours, out, away=away)
            if not child.continue_:
                break


def route(routing: Routing, event: Event) -> Routed:
    """Every recipient for ``event``, deduplicated by address, in the order rules chose them."""
    hours = routing.hours(event.at)
    matched: list[Route] = []
    away = event.child_id is not None and routing.authorities.out_of_area(event.placement_authority)
    _descend(routing.root, event, hours, matched, away=away)
    chosen: list[Recipient] = []
    for r in matched:
        for entry in r.notify:
            chosen.extend(_resolve(routing, event, entry, r.name))
    if not chosen:
        matched.append(routing.root)
        why = f"catch-all: no rule chose anyone for event {event.name!r}"
        for entry in routing.root.notify:
            chosen.extend(
                dataclasses.replace(r, note="; ".join(filter(None, (why, r.note))))
                for r in _resolve(routing, event, entry, routing.root.name)
            )
    return Routed(
        recipients=tuple(_dedupe(chosen)), matched=tuple(r.name for r in matched), hours=hours
    )


def _resolve(routing: Routing, event: Event, entry: str, rule: str) -> list[Recipient]:
    if "@" in entry:
        return [Recipient(FIXED, entry, None, rule)]
    if entry in routing.roles:
        contact = routing.roles[entry]
        return [Recipient(entry, contact.address, contact.name, rule)]
    if entry in AUTHORITY_ROLES:
        return _resolve_authority(routing, event, entry, rule)
    held = event.allocations.get(entry) if entry in DIRECTORY_ROLES else None
    if held and held.get("email"):
        return [Recipient(entry, str(held["email"]), held.get("name") or None, rule)]
    if event.child_id is None:
        note = f"no {entry}: the event has no matched child"
    elif held and held.get("name"):
        note = f"no email for {entry} {held['name']} on record for child {event.child_id}"
    else:
        note = f"no {entry} on record for child {event.child_id}"
    duty = routing.roles[DUTY]
    return [Recipient(DUTY, duty.address, duty.name, rule, note)]


def _resolve_authority(routing: Routing, event: Event, entry: str, rule: str) -> list[Recipient]:
    """host_authority / police from the authorities file, by the child's placement authority.

    A child in the council's own area (or with no placement authority on record) has nobody
    outside to tell. An authority the file does not know, or one without the address, alerts
    duty instead with a note, so the gap is seen and someone tells them by hand.
    """
    given = (event.placement_authority or "").strip()
    if event.child_id is not None and not given:
        return []
    authority = routing.authorities.find(given) if given else None
    if authority is not None and authority.own:
        return []
    if event.child_id is None:
        note = f"no {entry}: the event has no matched child"
    elif authority is None:
        note = (
            f"no {entry}: placement authority {given!r} of child {event.child_id} is not in "
            f"the authorities file ({routing.authorities.source})"
        )
    else:
        address = authority.missing_address if entry == HOST_AUTHORITY else authority.police_address
        if address:
            name = (
                f"{authority.name} missing children"
                if entry == HOST_AUTHORITY
                else authority.police_force
            )
            return [Recipient(entry, address, name, rule)]
        note = f"no {entry} address for {authority.code} ({authority.name}) in the authorities file"
    duty = routing.roles[DUTY]
    return [Recipient(DUTY, duty.address, duty.name, rule, note)]


def resolve_roles(
    routing: Routing, event: Event, roles: Sequence[str], rule: str
) -> list[Recipient]:
    """Named roles to recipients outside the tree (timers); an unknown holder goes to duty."""
    chosen: list[Recipient] = []
    for entry in roles:
        chosen.extend(_resolve(routing, event, entry, rule))
    return _dedupe(chosen)


def _dedupe(chosen: Sequence[Recipient]) -> list[Recipient]:
    merged: dict[str, Recipient] = {}
    notes: dict[str, list[str]] = {}
    for r in chosen:
        key = r.address.lower()
        first = merged.get(key)
        if first is None:
            merged[key] = Recipient(r.role, r.address, r.name, r.rule, None, (r.role,), (r.rule,))
            notes[key] = []
        else:
            merged[key] = Recipient(
                first.role,
                first.address,
                first.name or r.name,
                first.rule,
                None,
                first.roles + ((r.role,) if r.role not in first.roles else ()),
                first.rules + ((r.rule,) if r.rule not in first.rules else ()),
            )
        if r.note and r.note not in notes[key]:
            notes[key].append(r.note)
    return [
        Recipient(r.role, r.address, r.name, r.rule, "; ".join(notes[k]) or None, r.roles, r.rules)
        for k, r in merged.items()
    ]


def event_for_child(
    name: str,
    at: datetime,
    child: ChildRecord | None,
    allocations: Mapping[str, Mapping[str, str | None]] | None = None,
    *,
    risk: str | None = None,
    sender_known: bool = False,
    sender_verified: bool = False,
) -> Event:
    """An Event from a directory record (``directory.get_child``) and its allocations."""
    if child is None:
        return Event(
            name=name,
            at=at,
            risk=risk,
            sender_known=sender_known,
            sender_verified=sender_verified,
        )
    return Event(
        name=name,
        at=at,
        child_id=child.child_id,
        child=dict(child.attributes),
        placement_name=child.placement_name,
        placement_type=child.placement_type,
        risk=risk,
        sender_known=sender_known,
        sender_verified=sender_verified,
        allocations=dict(allocations or {}),
        placement_authority=child.placement_authority,
    )
