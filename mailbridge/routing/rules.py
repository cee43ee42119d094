"""Who must hear about an event: an Alertmanager-style routing tree over plain data.

Pure: ``load_routing`` parses text it is given and ``route`` reads only its arguments, so every
rule is tested without I/O (tests/test_routing.py). The file format is described in
docs/routing.md; the shipped defaults are config/routing.yaml.

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
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from mailbridge.errors import ConfigError
from mailbridge.reading.interview_form import DEFAULT_REASON_CODES as INTERVIEW_REASON_CODES

if TYPE_CHECKING:
    from mailbridge.directory.records import ChildRecord

# Events that processing raises today; later issues add escalation and reminder names, which a
# routing file may use once it declares them under ``events:`` (so a typo is still caught).
KNOWN_EVENTS = ("missing", "update", "returned", "unmatched", "not_a_report", "failed")
RISK_LEVELS = ("high", "medium", "low", "unknown")  # "unknown": the report gave no level
HOURS = ("office", "out_of_hours")
Hours = Literal["office", "out_of_hours"]
# Roles held by named staff, copied from the child's allocations when the episode opened.
DIRECTORY_ROLES = ("social_worker", "iro", "team_manager")
# Roles whose addresses the routing file gives under ``roles:``.
CONFIG_ROLES = ("apprentice", "duty", "edt")
DUTY = "duty"
FIXED = "address"  # the role of a fixed address written straight into a notify list
ROOT = "default"  # the name of the catch-all root route

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ALIASES = {d[:3]: i for i, d in enumerate(DAYS)} | {d: i for i, d in enumerate(DAYS)}
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[^@\s<>()\[\],;:\"\\]+@{_LABEL}(?:\.{_LABEL})+$")
_MATCH_KEYS = ("event", "risk", "sender_known", "sender_verified", "hours", "child")
_ROUTE_KEYS = ("name", "match", "notify", "continue", "routes")
_TOP_KEYS = (
    "timezone",
    "office_hours",
    "bank_holidays",
    "roles",
    "fallback",
    "events",
    "default",
    "routes",
    "escalation",
    "interviews",
    "repeat_missing",
)
_ESCALATION_KEYS = (
    "team_manager_after_minutes",
    "duty_after_minutes",
    "still_missing_every_hours",
    "still_missing_notify",
)
_INTERVIEW_KEYS = ("due_hours", "reminders_hours", "provider", "reason_codes")
_REPEAT_KEYS = ("episodes", "within_days", "add_roles")
RISK_DEFAULT = "default"  # the threshold for every risk level not named
_LARGEST = 100_000  # hours or minutes: past this a setting is a typo


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


# -- timer settings (escalation, return interviews, repeat missing) ------------------------
# Read by mailbridge/timers.py. Every section is optional, so an older routing file still loads
# with the defaults below.

# Reasons for going missing (push and pull factors): code -> synonyms a worker may write.
# One list of reason codes for the routing file's default and the interview form's reader.
DEFAULT_REASON_CODES = INTERVIEW_REASON_CODES


def fold_reason(text: str) -> str:
    """How reason codes and synonyms are compared: case, '-', '_' and spacing are ignored."""
    text = text.replace("\u2019", "'").replace("-", " ").replace("_", " ")
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class Thresholds:
    """Minutes by risk level; a level not named uses ``default``."""

    default: int
    by_risk: Mapping[str, int] = field(default_factory=dict, hash=False)

    def minutes(self, risk: str | None) -> int:
        return self.by_risk.get((risk or "unknown").lower(), self.default)

    def after(self, risk: str | None) -> timedelta:
        return timedelta(minutes=self.minutes(risk))


@dataclass(frozen=True)
class EscalationSettings:
    """``escalation:``. Both steps count from when the episode opened."""

    team_manager_after: Thresholds = field(
        default_factory=lambda: Thresholds(60, {"high": 30}), hash=False
    )
    duty_after: Thresholds = field(
        default_factory=lambda: Thresholds(120, {"high": 60}), hash=False
    )
    still_missing_every_hours: float = 24
    still_missing_notify: tuple[str, ...] = ("social_worker", "team_manager")

    @property
    def still_missing_every(self) -> timedelta:
        return timedelta(hours=self.still_missing_every_hours)


@dataclass(frozen=True)
class InterviewSettings:
    """``interviews:``. Hours count from ``returned_at``."""

    due_hours: float = 72
    reminders_hours: tuple[float, ...] = (24, 48)
    provider: str = "social_worker"  # a role, or a fixed address
    reason_codes: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_REASON_CODES), hash=False
    )

    @property
    def due_after(self) -> timedelta:
        return timedelta(hours=self.due_hours)

    def reason_code(self, text: str) -> str | None:
        """The code a worker meant by ``text`` (a code or one of its synonyms), else None."""
        wanted = fold_reason(text)
        for code, synonyms in self.reason_codes.items():
            if wanted == fold_reason(code) or wanted in {fold_reason(s) for s in synonyms}:
                return code
        return None


@dataclass(frozen=True)
class RepeatMissingSettings:
    """``repeat_missing:``: ``episodes`` or more starts within ``within_days`` days."""

    episodes: int = 3
    within_days: int = 90
    add_roles: tuple[str, ...] = ("team_manager", "iro")


@dataclass(frozen=True)
class Routing:
    source: str
    timezone: str
    office_hours: Mapping[int, tuple[tuple[int, int], ...]]  # weekday -> (start, end) seconds
    bank_holidays: frozenset[date]
    roles: Mapping[str, Contact]
    fallback: str
    events: tuple[str, ...]
    root: Route
    escalation: EscalationSettings = field(default_factory=EscalationSettings, hash=False)
    interviews: InterviewSettings = field(default_factory=InterviewSettings, hash=False)
    repeat_missing: RepeatMissingSettings = field(default_factory=RepeatMissingSettings, hash=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours(self, at: datetime) -> Hours:
        """Office or out of hours at ``at``, read in the routing zone; bank holidays are out."""
        local = at.astimezone(self.tz)
        if local.date() in self.bank_holidays:
            return "out_of_hours"
        second = local.hour * 3600 + local.minute * 60 + local.second
        for start, end in self.office_hours.get(local.weekday(), ()):
            if start <= second < end:
                return "office"
        return "out_of_hours"

    def rule_names(self) -> list[str]:
        return [r.name for r in _walk(self.root)]

    def route(self, event: Event) -> Routed:
        return route(self, event)


def _walk(route: Route) -> Iterator[Route]:
    yield route
    for child in route.routes:
        yield from _walk(child)


# -- evaluation -----------------------------------------------------------------------


def matches(m: Matchers, event: Event, hours: Hours) -> bool:
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
    for key, wanted in m.child:
        value = event.attribute(key)
        if value is None or _fold(str(value)) not in {_fold(w) for w in wanted}:
            return False
    return True


def _fold(value: str) -> str:
    # "Children’s home" typed with a curly apostrophe in a spreadsheet still matches.
    return " ".join(value.replace("\u2019", "'").split()).casefold()


def _descend(route: Route, event: Event, hours: Hours, out: list[Route]) -> None:
    for child in route.routes:
        if matches(child.matchers, event, hours):
            out.append(child)
            _descend(child, event, hours, out)
            if not child.continue_:
                break


def route(routing: Routing, event: Event) -> Routed:
    """Every recipient for ``event``, deduplicated by address, in the order rules chose them."""
    hours = routing.hours(event.at)
    matched: list[Route] = []
    _descend(routing.root, event, hours, matched)
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
    )


# -- loading and validation -----------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice is a problem rather than a silent overwrite."""

    duplicates: list[str]


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str | int | bool) and key in seen:
            loader.duplicates.append(
                f"line {key_node.start_mark.line + 1}: key {key!r} given twice"
            )
        seen.add(key)
    return loader.construct_mapping(node)


def _construct_date_text(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> str:
    # Dates stay text here, so 2026-13-25 is reported by its key rather than raising in PyYAML.
    return str(loader.construct_scalar(node))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_date_text)


def load_routing(text: str, *, source: str, default_timezone: str = "Europe/London") -> Routing:
    """Parse and validate a routing file; raise ConfigError naming every problem by key path."""
    problems: list[str] = []
    loader = _UniqueKeyLoader(text)
    loader.duplicates = []
    try:
        raw = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: not valid YAML ({exc})"]) from exc
    finally:
        loader.dispose()
    problems.extend(loader.duplicates)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: must be a mapping of keys, got {type(raw).__name__}"])
    for key in raw:
        if key not in _TOP_KEYS:
            problems.append(f"{key}: unknown key (known: {', '.join(_TOP_KEYS)})")

    timezone = _timezone(raw.get("timezone", default_timezone), problems)
    office = _office_hours(raw.get("office_hours", {}), problems)
    holidays = _bank_holidays(raw.get("bank_holidays", []), problems)
    roles = _roles(raw.get("roles", {}), problems)
    events = _events(raw.get("events", []), problems)
    fallback = raw.get("fallback")
    if fallback is None:
        fallback = roles[DUTY].address if DUTY in roles else ""
    elif not (isinstance(fallback, str) and _EMAIL.match(fallback)):
        problems.append(f"fallback: must be an email address, got {fallback!r}")
        fallback = ""

    known_roles = set(DIRECTORY_ROLES) | set(roles)
    ctx = _Ctx(problems, known_roles, set(KNOWN_EVENTS) | set(events), set())
    default = raw.get("default", [DUTY])
    root_notify = _notify(default, "default", ctx)
    if default == []:
        problems.append("default: the catch-all must notify someone, e.g. [duty]")
    routes_raw = raw.get("routes", [])
    children: tuple[Route, ...] = ()
    if not isinstance(routes_raw, list):
        problems.append(f"routes: must be a list of routes, got {type(routes_raw).__name__}")
    else:
        children = tuple(
            r for i, item in enumerate(routes_raw) if (r := _route(item, f"routes[{i}]", ctx))
        )
    escalation = _escalation(raw.get("escalation", {}), ctx)
    interviews = _interviews(raw.get("interviews", {}), ctx)
    repeat = _repeat_missing(raw.get("repeat_missing", {}), ctx)
    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])
    return Routing(
        source=source,
        timezone=timezone,
        office_hours=office,
        bank_holidays=holidays,
        roles=roles,
        fallback=fallback,
        events=events,
        root=Route(name=ROOT, notify=root_notify or (DUTY,), routes=children),
        escalation=escalation,
        interviews=interviews,
        repeat_missing=repeat,
    )


@dataclass
class _Ctx:
    problems: list[str]
    roles: set[str]
    events: set[str]
    names: set[str]


def _timezone(value: Any, problems: list[str]) -> str:
    if not isinstance(value, str):
        problems.append(f"timezone: must be an IANA zone name, got {value!r}")
        return "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone: unknown time zone {value!r}")
        return "UTC"
    return value


def _office_hours(value: Any, problems: list[str]) -> dict[int, tuple[tuple[int, int], ...]]:
    out: dict[int, tuple[tuple[int, int], ...]] = {}
    if not isinstance(value, dict):
        problems.append(
            'office_hours: must map weekdays to "HH:MM-HH:MM", e.g. monday: "09:00-17:00"'
        )
        return out
    for day, spans in value.items():
        key = f"office_hours.{day}"
        index = _DAY_ALIASES.get(str(day).lower())
        if index is None:
            problems.append(f"{key}: unknown day (use {', '.join(DAYS)})")
            continue
        if index in out:
            problems.append(f"{key}: the day is given twice")
            continue
        if spans is None or spans == "closed" or spans is False:
            out[index] = ()
            continue
        items = spans if isinstance(spans, list) else [spans]
        parsed: list[tuple[int, int]] = []
        for j, span in enumerate(items):
            label = f"{key}[{j}]" if isinstance(spans, list) else key
            window = _span(span, label, problems)
            if window is not None:
                parsed.append(window)
        out[index] = tuple(sorted(parsed))
    return out


def _span(span: Any, label: str, problems: list[str]) -> tuple[int, int] | None:
    m = _TIME.match(span) if isinstance(span, str) else None
    if m is None:
        hint = " (quote it: YAML reads 09:00 as a number)" if isinstance(span, int) else ""
        problems.append(f'{label}: must be "HH:MM-HH:MM" or closed, got {span!r}{hint}')
        return None
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        problems.append(f"{label}: not a time of day: {span!r}")
        return None
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if start >= end:
        problems.append(f"{label}: the end must be after the start, got {span!r}")
        return None
    return start, end


def _bank_holidays(value: Any, problems: list[str]) -> frozenset[date]:
    if not isinstance(value, list):
        problems.append("bank_holidays: must be a list of dates (YYYY-MM-DD)")
        return frozenset()
    days: set[date] = set()
    for i, item in enumerate(value):
        try:
            days.add(date.fromisoformat(str(item)))
        except ValueError:
            problems.append(f"bank_holidays[{i}]: not a date (YYYY-MM-DD): {item!r}")
    return frozenset(days)


def _roles(value: Any, problems: list[str]) -> dict[str, Contact]:
    roles: dict[str, Contact] = {}
    if not isinstance(value, dict):
        problems.append("roles: must map role names to addresses")
        value = {}
    for role, spec in value.items():
        key = f"roles.{role}"
        if not isinstance(role, str) or not _NAME.match(role):
            problems.append(f"{key}: a role name is lower_case_with_underscores")
            continue
        if role in DIRECTORY_ROLES:
            problems.append(f"{key}: comes from the child's allocations in the directory")
            continue
        name = None
        if isinstance(spec, dict):
            for extra in spec:
                if extra not in ("address", "name"):
                    problems.append(f"{key}.{extra}: unknown key (known: address, name)")
            name = spec.get("name")
            if name is not None and not isinstance(name, str):
                problems.append(f"{key}.name: must be a string, got {name!r}")
                name = None
            address = spec.get("address")
            key += ".address"
        else:
            address = spec
        if not (isinstance(address, str) and _EMAIL.match(address)):
            problems.append(f"{key}: must be an email address, got {address!r}")
            continue
        roles[role] = Contact(address, name)
    if DUTY not in roles:
        problems.append(
            "roles.duty: required: duty receives the catch-all and every role that cannot be "
            "resolved"
        )
    return roles


def _events(value: Any, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list):
        problems.append("events: must be a list of event names")
        return ()
    out: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"events[{i}]: an event name is lower_case_with_underscores")
        elif name not in out:
            out.append(name)
    return tuple(out)


def _strings(value: Any, label: str, problems: list[str]) -> list[str] | None:
    """One value or a list of them; numbers (child_id: 100231) are read as text."""
    items = value if isinstance(value, list) else [value]
    if not items:
        problems.append(f"{label}: must not be empty")
        return None
    out: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int):
            problems.append(f"{label}: must be a string or a list of strings, got {value!r}")
            return None
        out.append(str(item))
    return out


def _notify(value: Any, label: str, ctx: _Ctx) -> tuple[str, ...]:
    if not isinstance(value, list):
        ctx.problems.append(f"{label}: must be a list of roles or addresses, got {value!r}")
        return ()
    out: list[str] = []
    for i, entry in enumerate(value):
        key = f"{label}[{i}]"
        if not isinstance(entry, str):
            ctx.problems.append(f"{key}: must be a role or an email address, got {entry!r}")
        elif "@" in entry:
            if not _EMAIL.match(entry):
                ctx.problems.append(f"{key}: not an email address: {entry!r}")
            else:
                out.append(entry)
        elif entry not in ctx.roles:
            hint = (
                " (give its address under roles:)"
                if entry in CONFIG_ROLES
                else f" (known: {', '.join(sorted(ctx.roles))})"
            )
            ctx.problems.append(f"{key}: unknown role {entry!r}{hint}")
        else:
            out.append(entry)
    return tuple(out)


def _matchers(value: Any, label: str, ctx: _Ctx) -> Matchers:
    p = ctx.problems
    if not isinstance(value, dict):
        p.append(f"{label}: must be a mapping of matchers ({', '.join(_MATCH_KEYS)})")
        return Matchers()
    for key in value:
        if key not in _MATCH_KEYS:
            p.append(f"{label}.{key}: unknown matcher (known: {', '.join(_MATCH_KEYS)})")
    events = risk = None
    if "event" in value:
        events = _strings(value["event"], f"{label}.event", p)
        for name in events or ():
            if name not in ctx.events:
                p.append(
                    f"{label}.event: unknown event {name!r} "
                    f"(known: {', '.join(sorted(ctx.events))}; declare new ones under events:)"
                )
    if "risk" in value:
        risk = _strings(value["risk"], f"{label}.risk", p)
        for level in risk or ():
            if level not in RISK_LEVELS:
                p.append(f"{label}.risk: unknown level {level!r} (known: {', '.join(RISK_LEVELS)})")
    sender_known = value.get("sender_known")
    if sender_known is not None and not isinstance(sender_known, bool):
        p.append(f"{label}.sender_known: must be true or false, got {sender_known!r}")
        sender_known = None
    sender_verified = value.get("sender_verified")
    if isinstance(sender_verified, str) and sender_verified.strip().lower() in ("true", "false"):
        sender_verified = sender_verified.strip().lower() == "true"  # "true"/"false" as labels
    if sender_verified is not None and not isinstance(sender_verified, bool):
        p.append(f"{label}.sender_verified: must be true or false, got {sender_verified!r}")
        sender_verified = None
    hours = value.get("hours")
    if hours is not None and hours not in HOURS:
        p.append(f"{label}.hours: must be office or out_of_hours, got {hours!r}")
        hours = None
    child: list[tuple[str, tuple[str, ...]]] = []
    if "child" in value:
        spec = value["child"]
        if not isinstance(spec, dict) or not spec:
            p.append(
                f"{label}.child: must map attributes to values, "
                'e.g. placement_type: ["Children\'s home"]'
            )
        else:
            for attr, wanted in spec.items():
                if not isinstance(attr, str) or not attr.strip():
                    p.append(f"{label}.child: attribute names must be strings, got {attr!r}")
                    continue
                values = _strings(wanted, f"{label}.child.{attr}", p)
                if values is not None:
                    child.append((attr, tuple(values)))
    return Matchers(
        events=tuple(events) if events is not None else None,
        risk=tuple(r.lower() for r in risk) if risk is not None else None,
        sender_known=sender_known,
        sender_verified=sender_verified,
        hours=hours,
        child=tuple(child),
    )


def _route(value: Any, label: str, ctx: _Ctx) -> Route | None:
    p = ctx.problems
    if not isinstance(value, dict):
        p.append(f"{label}: must be a mapping ({', '.join(_ROUTE_KEYS)})")
        return None
    for key in value:
        if key not in _ROUTE_KEYS:
            p.append(f"{label}.{key}: unknown key (known: {', '.join(_ROUTE_KEYS)})")
    name = value.get("name", label)  # an unnamed rule is known by its path, e.g. routes[2]
    if "name" in value and (not isinstance(name, str) or not _RULE_NAME.match(name)):
        p.append(f"{label}.name: letters, digits, '-', '_' and '.' only, got {name!r}")
        name = label
    elif name == ROOT or name in ctx.names:
        p.append(f"{label}.name: {name!r} is already used; rule names must be unique")
    ctx.names.add(name)
    if "match" not in value:
        p.append(f"{label}.match: required (the root catch-all is `default:`)")
    matchers = _matchers(value.get("match", {}), f"{label}.match", ctx)
    notify = _notify(value.get("notify", []), f"{label}.notify", ctx)
    cont = value.get("continue", False)
    if not isinstance(cont, bool):
        p.append(f"{label}.continue: must be true or false, got {cont!r}")
        cont = False
    sub = value.get("routes", [])
    children: list[Route] = []
    if not isinstance(sub, list):
        p.append(f"{label}.routes: must be a list of routes")
    else:
        for i, item in enumerate(sub):
            child = _route(item, f"{label}.routes[{i}]", ctx)
            if child is not None:
                children.append(child)
    if not notify and not children and "notify" not in value:
        p.append(f"{label}: notifies nobody (give notify: or routes:)")
    return Route(name, matchers, notify, cont, tuple(children))


# -- the timer sections ---------------------------------------------------------------


def _section(value: Any, label: str, known: Sequence[str], problems: list[str]) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{label}: must be a mapping ({', '.join(known)})")
        return {}
    for key in value:
        if key not in known:
            problems.append(f"{label}.{key}: unknown key (known: {', '.join(known)})")
    return value


def _positive(value: Any, label: str, problems: list[str], *, whole: bool = False) -> bool:
    kinds: tuple[type, ...] = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "a whole number" if whole else "a number"
        problems.append(f"{label}: must be {kind}, got {value!r}")
        return False
    number = cast("float", value)
    if not number > 0:  # also catches .nan
        problems.append(f"{label}: must be more than 0, got {value!r}")
        return False
    if number > _LARGEST:  # also catches .inf
        problems.append(f"{label}: {value!r} is too large (at most {_LARGEST:,})")
        return False
    return True


def _thresholds(value: Any, label: str, base: Thresholds, problems: list[str]) -> Thresholds:
    """A number for every level, or {high: 30, default: 60} merged over the defaults."""
    if not isinstance(value, dict):
        if _positive(value, label, problems, whole=True):
            return Thresholds(int(value))
        return base
    levels = (RISK_DEFAULT, *RISK_LEVELS)
    default = base.default
    by_risk = dict(base.by_risk)
    for level, minutes in value.items():
        key = f"{label}.{level}"
        if level not in levels:
            problems.append(f"{key}: unknown risk level (known: {', '.join(levels)})")
        elif _positive(minutes, key, problems, whole=True):
            if level == RISK_DEFAULT:
                default = int(minutes)
            else:
                by_risk[level] = int(minutes)
    return Thresholds(default, by_risk)


def _escalation(value: Any, ctx: _Ctx) -> EscalationSettings:
    p = ctx.problems
    raw = _section(value, "escalation", _ESCALATION_KEYS, p)
    base = EscalationSettings()
    tm = base.team_manager_after
    if "team_manager_after_minutes" in raw:
        tm = _thresholds(
            raw["team_manager_after_minutes"], "escalation.team_manager_after_minutes", tm, p
        )
    duty = base.duty_after
    if "duty_after_minutes" in raw:
        duty = _thresholds(raw["duty_after_minutes"], "escalation.duty_after_minutes", duty, p)
    for level in (RISK_DEFAULT, *RISK_LEVELS):
        first, second = tm.minutes(level), duty.minutes(level)
        if level != RISK_DEFAULT and level not in tm.by_risk and level not in duty.by_risk:
            continue  # same as default, already checked
        if second <= first:
            p.append(
                f"escalation.duty_after_minutes.{level}: {second} must be later than "
                f"team_manager_after_minutes.{level} ({first}); both count from the opening"
            )
    every = base.still_missing_every_hours
    if "still_missing_every_hours" in raw:
        value = raw["still_missing_every_hours"]
        if _positive(value, "escalation.still_missing_every_hours", p):
            every = value
    notify = base.still_missing_notify
    if "still_missing_notify" in raw:
        notify = _notify(raw["still_missing_notify"], "escalation.still_missing_notify", ctx)
        if raw["still_missing_notify"] == []:
            p.append("escalation.still_missing_notify: must name someone, e.g. [social_worker]")
    return EscalationSettings(tm, duty, every, notify)


def _interviews(value: Any, ctx: _Ctx) -> InterviewSettings:
    p = ctx.problems
    raw = _section(value, "interviews", _INTERVIEW_KEYS, p)
    base = InterviewSettings()
    due = base.due_hours
    if "due_hours" in raw and _positive(raw["due_hours"], "interviews.due_hours", p):
        due = raw["due_hours"]
    reminders = base.reminders_hours
    if "reminders_hours" in raw:
        items = raw["reminders_hours"]
        if not isinstance(items, list):
            p.append(f"interviews.reminders_hours: must be a list of hours, got {items!r}")
        else:
            seen: list[float] = []
            for i, hours in enumerate(items):
                key = f"interviews.reminders_hours[{i}]"
                if not _positive(hours, key, p):
                    continue
                if hours >= due:
                    p.append(f"{key}: {hours} h is not before due_hours ({due})")
                elif hours in seen:
                    p.append(f"{key}: {hours} h is given twice")
                else:
                    seen.append(hours)
            reminders = tuple(sorted(seen))
    provider = base.provider
    if "provider" in raw:
        given = raw["provider"]
        if not isinstance(given, str):
            p.append(f"interviews.provider: must be a role or an email address, got {given!r}")
        elif "@" in given and not _EMAIL.match(given):
            p.append(f"interviews.provider: not an email address: {given!r}")
        elif "@" not in given and given not in ctx.roles:
            known = ", ".join(sorted(ctx.roles))
            p.append(f"interviews.provider: unknown role {given!r} (known: {known})")
        else:
            provider = given
    codes = dict(base.reason_codes)
    if "reason_codes" in raw:
        codes = _reason_codes(raw["reason_codes"], p) or codes
    return InterviewSettings(due, reminders, provider, codes)


def _reason_codes(value: Any, problems: list[str]) -> dict[str, tuple[str, ...]] | None:
    label = "interviews.reason_codes"
    if not isinstance(value, dict) or not value:
        problems.append(f"{label}: must map codes to lists of synonyms, e.g. bullying: [bullied]")
        return None
    out: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for code, synonyms in value.items():
        key = f"{label}.{code}"
        if not isinstance(code, str) or not _NAME.match(code):
            problems.append(f"{key}: a code is lower_case_with_underscores")
            continue
        listed = [] if synonyms is None else synonyms
        if not isinstance(listed, list):
            problems.append(f"{key}: must be a list of synonyms, got {synonyms!r}")
            continue
        kept: list[str] = []
        for i, text in enumerate([code, *listed]):
            where = key if i == 0 else f"{key}[{i - 1}]"
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{where}: a synonym must be text, got {text!r}")
                continue
            folded = fold_reason(text)
            if owner.get(folded, code) != code:
                problems.append(f"{where}: {text!r} already means {owner[folded]!r}")
                continue
            owner[folded] = code
            if i:
                kept.append(text)
        out[code] = tuple(kept)
    return out


def _repeat_missing(value: Any, ctx: _Ctx) -> RepeatMissingSettings:
    p = ctx.problems
    raw = _section(value, "repeat_missing", _REPEAT_KEYS, p)
    base = RepeatMissingSettings()
    episodes = base.episodes
    if "episodes" in raw and _positive(raw["episodes"], "repeat_missing.episodes", p, whole=True):
        if raw["episodes"] < 2:  # one episode is not a repeat
            p.append(f"repeat_missing.episodes: must be 2 or more, got {raw['episodes']!r}")
        else:
            episodes = raw["episodes"]
    days = base.within_days
    if "within_days" in raw and _positive(
        raw["within_days"], "repeat_missing.within_days", p, whole=True
    ):
        days = raw["within_days"]
    roles = base.add_roles
    if "add_roles" in raw:
        roles = _notify(raw["add_roles"], "repeat_missing.add_roles", ctx)
    return RepeatMissingSettings(episodes, days, roles)


# -- text for the dry run -------------------------------------------------------------


def routed_lines(routing: Routing, event: Event, routed: Routed) -> list[str]:
    """What `mailbridge routes test` prints: the event as routing saw it, then who and why."""
    local = event.at.astimezone(routing.tz)
    who = f"child {event.child_id}" if event.child_id else "no child"
    if event.placement_type or event.placement_name:
        where = ", ".join(p for p in (event.placement_type, event.placement_name) if p)
        who += f" ({where})"
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
        "matched": list(routed.matched),
        "routing_file": routing.source,
        "recipients": [r.as_json() for r in routed.recipients],
    }
