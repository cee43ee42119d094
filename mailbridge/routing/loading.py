"""Loading a routing file: YAML in, a validated ``Routing`` out, or every problem at once.

Pure: ``load_routing`` parses the text it is given. Keys given twice, unknown keys, unknown
roles, events and risk levels, bad addresses and out-of-range numbers are all reported by key
path in one ``ConfigError``, so an operator fixes a file in one pass. The format is described
in docs/routing.md; the shipped defaults are config/routing.yaml.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from mailbridge.errors import ConfigError
from mailbridge.routing.calendar import (
    HOURS,
    parse_bank_holidays,
    parse_office_hours,
    parse_timezone,
)
from mailbridge.routing.checks import (
    EMAIL,
    NAME,
    RISK_LEVELS,
    Ctx,
    notify_list,
    optional_bool,
    strings,
)
from mailbridge.routing.rules import (
    AUTHORITY_ROLES,
    DIRECTORY_ROLES,
    DUTY,
    KNOWN_EVENTS,
    ROOT,
    Contact,
    Matchers,
    Route,
    Routing,
)
from mailbridge.routing.timer_settings import (
    parse_escalation,
    parse_interviews,
    parse_repeat_missing,
)

_RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MATCH_KEYS = ("event", "risk", "sender_known", "sender_verified", "hours", "child", "out_of_area")
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

    timezone = parse_timezone(raw.get("timezone", default_timezone), problems)
    office = parse_office_hours(raw.get("office_hours", {}), problems)
    holidays = parse_bank_holidays(raw.get("bank_holidays", []), problems)
    roles = _roles(raw.get("roles", {}), problems)
    events = _events(raw.get("events", []), problems)
    fallback = raw.get("fallback")
    if fallback is None:
        fallback = roles[DUTY].address if DUTY in roles else ""
    elif not (isinstance(fallback, str) and EMAIL.match(fallback)):
        problems.append(f"fallback: must be an email address, got {fallback!r}")
        fallback = ""

    known_roles = set(DIRECTORY_ROLES) | set(AUTHORITY_ROLES) | set(roles)
    ctx = Ctx(problems, known_roles, set(KNOWN_EVENTS) | set(events), set())
    default = raw.get("default", [DUTY])
    root_notify = notify_list(default, "default", ctx)
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
    escalation = parse_escalation(raw.get("escalation", {}), ctx)
    interviews = parse_interviews(raw.get("interviews", {}), ctx)
    repeat = parse_repeat_missing(raw.get("repeat_missing", {}), ctx)
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


def _roles(value: Any, problems: list[str]) -> dict[str, Contact]:
    roles: dict[str, Contact] = {}
    if not isinstance(value, dict):
        problems.append("roles: must map role names to addresses")
        value = {}
    for role, spec in value.items():
        key = f"roles.{role}"
        if not isinstance(role, str) or not NAME.match(role):
            problems.append(f"{key}: a role name is lower_case_with_underscores")
            continue
        if role in DIRECTORY_ROLES:
            problems.append(f"{key}: comes from the child's allocations in the directory")
            continue
        if role in AUTHORITY_ROLES:
            problems.append(f"{key}: comes from the authorities file (authorities.file)")
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
        if not (isinstance(address, str) and EMAIL.match(address)):
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
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"events[{i}]: an event name is lower_case_with_underscores")
        elif name not in out:
            out.append(name)
    return tuple(out)


def _matchers(value: Any, label: str, ctx: Ctx) -> Matchers:
    p = ctx.problems
    if not isinstance(value, dict):
        p.append(f"{label}: must be a mapping of matchers ({', '.join(_MATCH_KEYS)})")
        return Matchers()
    for key in value:
        if key not in _MATCH_KEYS:
            p.append(f"{label}.{key}: unknown matcher (known: {', '.join(_MATCH_KEYS)})")
    events = risk = None
    if "event" in value:
        events = strings(value["event"], f"{label}.event", p)
        for name in events or ():
            if name not in ctx.events:
                p.append(
                    f"{label}.event: unknown event {name!r} "
                    f"(known: {', '.join(sorted(ctx.events))}; declare new ones under events:)"
                )
    if "risk" in value:
        risk = strings(value["risk"], f"{label}.risk", p)
        for level in risk or ():
            if level not in RISK_LEVELS:
                p.append(f"{label}.risk: unknown level {level!r} (known: {', '.join(RISK_LEVELS)})")
    sender_known = optional_bool(value, "sender_known", label, p)
    sender_verified = optional_bool(value, "sender_verified", label, p, words=True)
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
                values = strings(wanted, f"{label}.child.{attr}", p)
                if values is not None:
                    child.append((attr, tuple(values)))
    out_of_area = optional_bool(value, "out_of_area", label, p)
    return Matchers(
        out_of_area=out_of_area,
        events=tuple(events) if events is not None else None,
        risk=tuple(r.lower() for r in risk) if risk is not None else None,
        sender_known=sender_known,
        sender_verified=sender_verified,
        hours=hours,
        child=tuple(child),
    )


def _route(value: Any, label: str, ctx: Ctx) -> Route | None:
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
    notify = notify_list(value.get("notify", []), f"{label}.notify", ctx)
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
