"""How an alert writes a value: on one line, as initials, as a local time or an age, as a list
or a label; "not stated" for nothing. Pure; also the templates' filters (render.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

__all__ = [
    "MATCH_LABELS",
    "NOT_STATED",
    "age_on",
    "born",
    "format_clock",
    "format_local",
    "html_lines",
    "human_list",
    "initials",
    "match_label",
    "not_stated",
    "one_line",
    "percent",
    "quote",
    "size",
    "yes_no",
]

NOT_STATED = "not stated"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MATCH_LABELS = {
    "child_id": "child ID given in the report",
    "name_dob": "name and date of birth",
    "full_name": "full name",
    "first_name_placement": "first name and placement",
    "initials_dob": "initials and date of birth",
    "dob_placement": "date of birth and placement",
    "initials_placement": "initials and placement",
    "first_name_typo": "a first name one letter off, and placement",
    "named_among_several": "named among several children in one email",
    "thread": "reply to an earlier report",
    "ambiguous": "ambiguous: more than one child fits",
    "none": "no child in the directory matched",
}


def one_line(value: object) -> str:
    """Control characters (CR, LF, NUL...) become spaces, runs of space collapse."""
    if value is None:
        return ""
    return " ".join(_CONTROL.sub(" ", str(value)).split())


def _initial(name: str | None) -> str:
    for ch in name or "":
        if ch.isalnum():
            return ch.upper() + "."
    return ""


def initials(first: str | None, last: str | None) -> str:
    """'Jordan', 'Carter' -> 'J.C.'; '' when neither name is known."""
    return _initial(first) + _initial(last)


def format_local(value: datetime | None, tz: ZoneInfo) -> str:
    """'26 Nov 2026 21:30 GMT' in the council zone; "not stated" for None."""
    if value is None:
        return NOT_STATED
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    local = aware.astimezone(tz)
    return (
        f"{local.day} {_MONTHS[local.month - 1]} {local.year} "
        f"{local.hour:02d}:{local.minute:02d} {local.tzname()}"
    )


def format_clock(value: datetime | None, tz: ZoneInfo) -> str:
    """'20:04' in the council zone; "not stated" for None."""
    if value is None:
        return NOT_STATED
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return f"{aware.astimezone(tz):%H:%M}"


def human_list(items: Sequence[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b and c'."""
    parts = [one_line(i) for i in items if one_line(i)]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def age_on(born_on: date, on: date) -> int:
    """Whole years from ``born_on`` to ``on`` (a 29 February birthday counts on 1 March)."""
    return on.year - born_on.year - ((on.month, on.day) < (born_on.month, born_on.day))


def born(dob: date | None, at: datetime, tz: ZoneInfo) -> str | None:
    """'14 Mar 2011 (age 15)' at the local date of ``at``; None when there is no date."""
    if dob is None:
        return None
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    age = age_on(dob, aware.astimezone(tz).date())
    shown = f"{dob.day} {_MONTHS[dob.month - 1]} {dob.year}"
    return f"{shown} (age {age})" if age >= 0 else shown


def not_stated(value: object) -> object:
    if value is None:
        return NOT_STATED
    if isinstance(value, str) and not value.strip():
        return NOT_STATED
    return value


def yes_no(value: bool | None) -> str:
    if value is None:
        return NOT_STATED
    return "yes" if value else "no"


def percent(value: float | None) -> str:
    if value is None:
        return NOT_STATED
    return f"{round(value * 100)}%" if 0 <= value <= 1 else str(value)


def size(value: int | None) -> str:
    if value is None:
        return "size unknown"
    if value < 1024:
        return f"{value} bytes"
    if value < 1024 * 1024:
        return f"{value / 1024:.0f} KB"
    return f"{value / (1024 * 1024):.1f} MB"


def quote(text: str | None) -> str:
    """Plain text quoted as in mail: every line prefixed with '> '."""
    body = (text or "").replace("\r\n", "\n").replace("\r", "\n").rstrip()
    if not body:
        return "> (no text)"
    return "\n".join(("> " + line).rstrip() for line in body.split("\n"))


def html_lines(text: str | None) -> Markup:
    """Escaped text with newlines as <br>: the only way carer text enters HTML."""
    body = (text or "").replace("\r\n", "\n").replace("\r", "\n").rstrip()
    if not body:
        return Markup("<em>(no text)</em>")
    return Markup("<br>\n").join(escape(line) for line in body.split("\n"))


def match_label(method: str | None) -> str:
    if not method:
        return NOT_STATED
    return MATCH_LABELS.get(method, method)
