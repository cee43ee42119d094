"""Casework decisions: what a person's operation does to an episode, or why it makes no sense.

Staff link, split, merge, void, close, reopen, correct and confirm what mailbridge decided
(docs/casework.md). Each function here sees plain facts about the episode (``Facts``) and the
operation's arguments, and returns the field changes to make, or raises ``CaseworkRefused``
with a one-line reason fit for the person who asked. Pure: no database, no clock (the caller
passes "now"), no mail; ``episodes.casework`` applies a decision in one transaction and
``tests/unit/test_casework_decisions.py`` tests every branch.

Rule 1 of the team brief holds here too: on doubt the safe state. A merge of an open and a
returned episode stays open; a return cannot be earlier than the last sighting nor later than
now; a blank correction asserts nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from mailbridge.clock import iso_in_zone
from mailbridge.errors import CaseworkRefused

OPEN: Final = "open"
RETURNED: Final = "returned"
VOID: Final = "void"
STATUSES: Final = (OPEN, RETURNED, VOID)
RISKS: Final = ("low", "medium", "high")
ABSENCE_TYPES: Final = ("M", "A")

__all__ = [
    "ABSENCE_TYPES",
    "RISKS",
    "Change",
    "Facts",
    "Merge",
    "Split",
    "confirm",
    "correct",
    "link",
    "merge",
    "parse_when",
    "reopen",
    "returned",
    "split",
    "void",
]


@dataclass(frozen=True)
class Facts:
    """The facts of one episode that casework reads; times are aware."""

    reference: str
    child_id: str | None
    status: str
    opened_at: datetime
    last_seen_at: datetime | None = None
    returned_at: datetime | None = None
    returned_by: str | None = None
    police_reference: str | None = None
    risk_level: str | None = None
    absence_type: str = "M"
    needs_confirmation: bool = False
    confirmation_reason: str | None = None
    merged_into: str | None = None
    void_reason: str | None = None


@dataclass(frozen=True)
class Change:
    """One field of one episode: from ``old`` to ``new``."""

    field: str
    old: Any
    new: Any


def _changes(facts: Facts, **new: Any) -> tuple[Change, ...]:
    """The fields whose value differs from what the episode holds, in the order given."""
    return tuple(
        Change(name, getattr(facts, name), value)
        for name, value in new.items()
        if getattr(facts, name) != value
    )


def _stamp(value: datetime | None) -> str:
    return value.isoformat(timespec="minutes") if value is not None else "not stated"


def _not_void(facts: Facts, doing: str) -> None:
    if facts.status == VOID:
        where = f" into {facts.merged_into}" if facts.merged_into else ""
        hint = f"merged{where}" if facts.merged_into else "void; reopen it first"
        raise CaseworkRefused(f"{facts.reference} is {hint}: cannot {doing}")


# -- the operations -----------------------------------------------------------------------


def link(facts: Facts, child_id: str, *, known_child: bool) -> tuple[Change, ...]:
    """An unmatched episode gets its child; a linked one is refused (split or correct it)."""
    child_id = child_id.strip()
    _not_void(facts, "link it")
    if facts.child_id is not None:
        raise CaseworkRefused(f"{facts.reference} is already linked to child {facts.child_id}")
    if not child_id or not known_child:
        raise CaseworkRefused(f"no child with ID {child_id!r} in the directory")
    return (Change("child_id", None, child_id), Change("match_method", None, "staff"))


@dataclass(frozen=True)
class Split:
    """The original keeps (or gets) ``keep``; one new episode for each of ``new_children``."""

    keep: str
    changes: tuple[Change, ...]
    new_children: tuple[str, ...]


def split(facts: Facts, child_ids: Sequence[str], *, unknown: Sequence[str]) -> Split:
    """An episode about several children becomes one per child, all with the same messages.

    ``unknown`` are the IDs of ``child_ids`` that are not in the directory.
    """
    _not_void(facts, "split it")
    ids = [c.strip() for c in child_ids if c.strip()]
    if unknown:
        raise CaseworkRefused(f"no child with ID {unknown[0]!r} in the directory")
    if len(set(ids)) != len(ids):
        raise CaseworkRefused("the same child is named twice")
    if len(ids) < 2:
        raise CaseworkRefused("a split needs two or more children (--child ID --child ID)")
    if facts.child_id is not None and facts.child_id not in ids:
        raise CaseworkRefused(
            f"{facts.reference} is linked to child {facts.child_id}, who is not among "
            f"{', '.join(ids)}"
        )
    keep = facts.child_id or ids[0]
    changes = (
        ()
        if facts.child_id
        else (Change("child_id", None, keep), Change("match_method", None, "staff"))
    )
    return Split(keep, changes, tuple(c for c in ids if c != keep))


@dataclass(frozen=True)
class Merge:
    """``into`` survives with ``survivor`` changes; ``gone`` (the later one) points to it."""

    survivor: tuple[Change, ...]
    gone: tuple[Change, ...]


def merge(facts: Facts, into: Facts) -> Merge:
    """Two episodes of one child, one absence: the earlier reference survives."""
    if facts.reference == into.reference:
        raise CaseworkRefused("an episode cannot be merged into itself")
    _not_void(facts, "merge it")
    _not_void(into, "merge into it")
    if facts.child_id is None or into.child_id is None:
        unmatched = facts.reference if facts.child_id is None else into.reference
        raise CaseworkRefused(f"{unmatched} is not linked to a child: link it first")
    if facts.child_id != into.child_id:
        raise CaseworkRefused(
            f"{facts.reference} is child {facts.child_id}, {into.reference} is child "
            f"{into.child_id}: only one child's episodes merge"
        )
    if (facts.opened_at, facts.reference) < (into.opened_at, into.reference):
        raise CaseworkRefused(
            f"{facts.reference} began first and its reference survives: "
            f"merge {into.reference} --into {facts.reference}"
        )
    # The survivor keeps what it knows; a blank there takes the other's value.
    fill: dict[str, Any] = {}
    for name in ("last_seen_at", "police_reference", "risk_level"):
        if getattr(into, name) is None and getattr(facts, name) is not None:
            fill[name] = getattr(facts, name)
    if into.status == OPEN and facts.status == RETURNED:
        # The later record saw the return of the one absence: the survivor is closed by it.
        fill.update(status=RETURNED, returned_at=facts.returned_at, returned_by=facts.returned_by)
    elif into.status == RETURNED and facts.status == OPEN:
        # A later report said still missing: on doubt, open (a false return stops a search).
        fill.update(status=OPEN, returned_at=None, returned_by=None)
    if facts.needs_confirmation and not into.needs_confirmation:
        fill.update(needs_confirmation=True, confirmation_reason=facts.confirmation_reason)
    gone = _changes(
        facts, status=VOID, merged_into=into.reference, void_reason=f"merged into {into.reference}"
    )
    return Merge(_changes(into, **fill), gone)


def void(facts: Facts, reason: str) -> tuple[Change, ...]:
    """Not a missing episode (duplicate, test, spam...): out of the figures, still listed."""
    reason = " ".join(reason.split())
    if not reason:
        raise CaseworkRefused("a void needs a reason (--reason TEXT)")
    if facts.status == VOID:
        raise CaseworkRefused(f"{facts.reference} is already void ({facts.void_reason})")
    return _changes(facts, status=VOID, void_reason=reason)


def returned(facts: Facts, at: datetime, *, by: str, now: datetime) -> tuple[Change, ...]:
    """Close an open episode: the child came back at ``at``."""
    _not_void(facts, "close it")
    if facts.status == RETURNED:
        raise CaseworkRefused(
            f"{facts.reference} is already returned (at {_stamp(facts.returned_at)})"
        )
    _check_return(facts, at, now=now)
    return _changes(facts, status=RETURNED, returned_at=at, returned_by=by)


def _check_return(facts: Facts, at: datetime, *, now: datetime) -> None:
    if at > now:
        raise CaseworkRefused(f"a return at {_stamp(at)} is in the future")
    if facts.last_seen_at is not None and at < facts.last_seen_at:
        raise CaseworkRefused(
            f"a return at {_stamp(at)} is before the last sighting at {_stamp(facts.last_seen_at)}"
        )


def reopen(facts: Facts, reason: str) -> tuple[Change, ...]:
    """Back to open from returned or void, with a reason; the clocks are planned again."""
    if not " ".join(reason.split()):
        raise CaseworkRefused("a reopen needs a reason (--reason TEXT)")
    if facts.status == OPEN:
        raise CaseworkRefused(f"{facts.reference} is already open")
    if facts.merged_into:
        raise CaseworkRefused(
            f"{facts.reference} was merged into {facts.merged_into}: reopen that one"
        )
    return _changes(facts, status=OPEN, returned_at=None, returned_by=None, void_reason=None)


def correct(
    facts: Facts,
    *,
    now: datetime,
    last_seen_at: datetime | None = None,
    returned_at: datetime | None = None,
    police_reference: str | None = None,
    risk_level: str | None = None,
    absence_type: str | None = None,
) -> tuple[Change, ...]:
    """Fix facts by hand; a value not given is left as it is (a blank asserts nothing)."""
    new: dict[str, Any] = {}
    if last_seen_at is not None:
        if last_seen_at > now:
            raise CaseworkRefused(f"last seen at {_stamp(last_seen_at)} is in the future")
        if facts.returned_at is not None and last_seen_at > facts.returned_at:
            raise CaseworkRefused(
                f"last seen at {_stamp(last_seen_at)} is after the return at "
                f"{_stamp(facts.returned_at)}"
            )
        new["last_seen_at"] = last_seen_at
    if returned_at is not None:
        if facts.status != RETURNED:
            raise CaseworkRefused(
                f"{facts.reference} is {facts.status}: record a return with "
                f"`episode returned {facts.reference} --at WHEN`"
            )
        seen = last_seen_at or facts.last_seen_at
        _check_return(replace(facts, last_seen_at=seen), returned_at, now=now)
        new["returned_at"] = returned_at
    if police_reference is not None:
        ref = " ".join(police_reference.split())
        if not ref:
            raise CaseworkRefused("--police-ref is blank")
        new["police_reference"] = ref
    if risk_level is not None:
        if risk_level.lower() not in RISKS:
            raise CaseworkRefused(f"risk must be one of {', '.join(RISKS)}, not {risk_level!r}")
        new["risk_level"] = risk_level.lower()
    if absence_type is not None:
        if absence_type.upper() not in ABSENCE_TYPES:
            raise CaseworkRefused(f"absence type must be M or A, not {absence_type!r}")
        new["absence_type"] = absence_type.upper()
    if not new:
        raise CaseworkRefused(
            "nothing to correct: give --last-seen, --returned-at, --police-ref, --risk "
            "or --absence-type"
        )
    changes = _changes(facts, **new)
    if not changes:
        raise CaseworkRefused(f"{facts.reference} already has those values; nothing changed")
    return changes


def confirm(facts: Facts) -> tuple[Change, ...]:
    """A person has checked what the reading was unsure of: clear needs_confirmation."""
    if not facts.needs_confirmation:
        raise CaseworkRefused(f"{facts.reference} does not need confirmation")
    return _changes(facts, needs_confirmation=False, confirmation_reason=None)


# -- reading a time a person typed ------------------------------------------------------

_CLOCK = re.compile(r"^(\d{1,2})[:.](\d{2})$")


def parse_when(text: str, *, tz: ZoneInfo, now: datetime) -> datetime:
    """``14:30`` (the last such time, today or else yesterday), ``now``, or an ISO time.

    A time with no zone is read in the council's ``tz``. Raises CaseworkRefused naming the
    text when it is none of these.
    """
    value = text.strip()
    if value.lower() == "now":
        return now.replace(microsecond=0)
    clock = _CLOCK.match(value)
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        if hour > 23 or minute > 59:
            raise CaseworkRefused(f"not a time of day: {value!r}")
        local = now.astimezone(tz)
        at = datetime.combine(local.date(), time(hour, minute), tzinfo=tz)
        return at - timedelta(days=1) if at > local else at
    typed = iso_in_zone(value, tz)
    if typed is None:
        raise CaseworkRefused(f"not a time: {value!r} (e.g. 14:30, now, or 2026-11-28T23:00)")
    return typed
