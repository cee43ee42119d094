"""The timer settings of a routing file: ``escalation:``, ``interviews:`` and
``repeat_missing:``, their defaults and their validation.

Pure. Read by the timer plan (``timers/plan.py``). Every section is optional, so an older
routing file still loads with the defaults below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mailbridge.routing.checks import EMAIL, NAME, RISK_LEVELS, Ctx, notify_list, positive, section
from mailbridge.routing.reason_codes import DEFAULT_REASON_CODES

_ESCALATION_KEYS = (
    "team_manager_after_minutes",
    "duty_after_minutes",
    "still_missing_every_hours",
    "still_missing_notify",
)
_INTERVIEW_KEYS = ("due_hours", "reminders_hours", "provider", "reason_codes")
_REPEAT_KEYS = ("episodes", "within_days", "add_roles")
RISK_DEFAULT = "default"  # the threshold for every risk level not named


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


# -- validation -----------------------------------------------------------------------------


def _thresholds(value: Any, label: str, base: Thresholds, problems: list[str]) -> Thresholds:
    """A number for every level, or {high: 30, default: 60} merged over the defaults."""
    if not isinstance(value, dict):
        if positive(value, label, problems, whole=True):
            return Thresholds(int(value))
        return base
    levels = (RISK_DEFAULT, *RISK_LEVELS)
    default = base.default
    by_risk = dict(base.by_risk)
    for level, minutes in value.items():
        key = f"{label}.{level}"
        if level not in levels:
            problems.append(f"{key}: unknown risk level (known: {', '.join(levels)})")
        elif positive(minutes, key, problems, whole=True):
            if level == RISK_DEFAULT:
                default = int(minutes)
            else:
                by_risk[level] = int(minutes)
    return Thresholds(default, by_risk)


def parse_escalation(value: Any, ctx: Ctx) -> EscalationSettings:
    p = ctx.problems
    raw = section(value, "escalation", _ESCALATION_KEYS, p)
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
        if positive(value, "escalation.still_missing_every_hours", p):
            every = value
    notify = base.still_missing_notify
    if "still_missing_notify" in raw:
        notify = notify_list(raw["still_missing_notify"], "escalation.still_missing_notify", ctx)
        if raw["still_missing_notify"] == []:
            p.append("escalation.still_missing_notify: must name someone, e.g. [social_worker]")
    return EscalationSettings(tm, duty, every, notify)


def parse_interviews(value: Any, ctx: Ctx) -> InterviewSettings:
    p = ctx.problems
    raw = section(value, "interviews", _INTERVIEW_KEYS, p)
    base = InterviewSettings()
    due = base.due_hours
    if "due_hours" in raw and positive(raw["due_hours"], "interviews.due_hours", p):
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
                if not positive(hours, key, p):
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
        elif "@" in given and not EMAIL.match(given):
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
        if not isinstance(code, str) or not NAME.match(code):
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


def parse_repeat_missing(value: Any, ctx: Ctx) -> RepeatMissingSettings:
    p = ctx.problems
    raw = section(value, "repeat_missing", _REPEAT_KEYS, p)
    base = RepeatMissingSettings()
    episodes = base.episodes
    if "episodes" in raw and positive(raw["episodes"], "repeat_missing.episodes", p, whole=True):
        if raw["episodes"] < 2:  # one episode is not a repeat
            p.append(f"repeat_missing.episodes: must be 2 or more, got {raw['episodes']!r}")
        else:
            episodes = raw["episodes"]
    days = base.within_days
    if "within_days" in raw and positive(
        raw["within_days"], "repeat_missing.within_days", p, whole=True
    ):
        days = raw["within_days"]
    roles = base.add_roles
    if "add_roles" in raw:
        roles = notify_list(raw["add_roles"], "repeat_missing.add_roles", ctx)
    return RepeatMissingSettings(episodes, days, roles)
