"""The routing calendar: the routing zone, office hours and bank holidays, and whether an
instant is office or out of hours.

Pure. The parsers take the raw values of a routing file and append a problem per bad value
(named by its key path) instead of raising, so ``loading.load_routing`` reports every problem
at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HOURS = ("office", "out_of_hours")
Hours = Literal["office", "out_of_hours"]
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ALIASES = {d[:3]: i for i, d in enumerate(DAYS)} | {d: i for i, d in enumerate(DAYS)}
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

#: weekday (Monday 0) -> office windows as (start, end) seconds after midnight
OfficeHours = Mapping[int, tuple[tuple[int, int], ...]]


def hours_at(
    at: datetime, tz: ZoneInfo, office_hours: OfficeHours, bank_holidays: frozenset[date]
) -> Hours:
    """Office or out of hours at ``at``, read in ``tz``; bank holidays are out."""
    local = at.astimezone(tz)
    if local.date() in bank_holidays:
        return "out_of_hours"
    second = local.hour * 3600 + local.minute * 60 + local.second
    for start, end in office_hours.get(local.weekday(), ()):
        if start <= second < end:
            return "office"
    return "out_of_hours"


def parse_timezone(value: Any, problems: list[str]) -> str:
    if not isinstance(value, str):
        problems.append(f"timezone: must be an IANA zone name, got {value!r}")
        return "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone: unknown time zone {value!r}")
        return "UTC"
    return value


def parse_office_hours(value: Any, problems: list[str]) -> dict[int, tuple[tuple[int, int], ...]]:
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


def parse_bank_holidays(value: Any, problems: list[str]) -> frozenset[date]:
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
