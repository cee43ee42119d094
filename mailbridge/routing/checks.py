"""What the routing loaders share: the vocabulary a file is checked against, and the checks
that append a problem (named by its key path) instead of raising.

Pure. ``loading.py`` (the file and the tree) and ``timer_settings.py`` (the timer sections) use
them, so every problem in a file is reported at once, in one ``ConfigError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

RISK_LEVELS = ("high", "medium", "low", "unknown")  # "unknown": the report gave no level
# Roles whose addresses the routing file gives under ``roles:``.
CONFIG_ROLES = ("apprentice", "duty", "edt")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
EMAIL = re.compile(rf"^[^@\s<>()\[\],;:\"\\]+@{_LABEL}(?:\.{_LABEL})+$")
LARGEST = 100_000  # hours or minutes: past this a setting is a typo


@dataclass
class Ctx:
    """The problems found so far, and the roles, events and rule names a file declares."""

    problems: list[str]
    roles: set[str]
    events: set[str]
    names: set[str]


def strings(value: Any, label: str, problems: list[str]) -> list[str] | None:
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


def notify_list(value: Any, label: str, ctx: Ctx) -> tuple[str, ...]:
    if not isinstance(value, list):
        ctx.problems.append(f"{label}: must be a list of roles or addresses, got {value!r}")
        return ()
    out: list[str] = []
    for i, entry in enumerate(value):
        key = f"{label}[{i}]"
        if not isinstance(entry, str):
            ctx.problems.append(f"{key}: must be a role or an email address, got {entry!r}")
        elif "@" in entry:
            if not EMAIL.match(entry):
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


def section(value: Any, label: str, known: Sequence[str], problems: list[str]) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{label}: must be a mapping ({', '.join(known)})")
        return {}
    for key in value:
        if key not in known:
            problems.append(f"{label}.{key}: unknown key (known: {', '.join(known)})")
    return value


def optional_bool(
    value: dict[Any, Any], key: str, label: str, problems: list[str], *, words: bool = False
) -> bool | None:
    """``value[key]`` when it is true or false (``words``: the strings "true" and "false" too, as
    labels often are); None when absent, and None with a problem for anything else."""
    got = value.get(key)
    if words and isinstance(got, str) and got.strip().lower() in ("true", "false"):
        got = got.strip().lower() == "true"
    if got is not None and not isinstance(got, bool):
        problems.append(f"{label}.{key}: must be true or false, got {got!r}")
        return None
    return got


def positive(value: Any, label: str, problems: list[str], *, whole: bool = False) -> bool:
    kinds: tuple[type, ...] = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "a whole number" if whole else "a number"
        problems.append(f"{label}: must be {kind}, got {value!r}")
        return False
    number = cast("float", value)
    if not number > 0:  # also catches .nan
        problems.append(f"{label}: must be more than 0, got {value!r}")
        return False
    if number > LARGEST:  # also catches .inf
        problems.append(f"{label}: {value!r} is too large (at most {LARGEST:,})")
        return False
    return True
