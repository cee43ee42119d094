"""What one local day adds to the report's figures, and the figures of a period from its days.

Pure: no I/O. ``store/rollups.py`` stores a :class:`Day` per local date (as JSON) and hands
back the rows to build the days that changed; :func:`merge` turns the days of a period into the
same :class:`~mailbridge.reports.figures.Figures` as the full scan (``store/figures.py``).

A day keeps only what can be added up across days, and what depends on the report's ``now``
is kept as the moments it turns on, not as a count: each return with its time (returned by
``now`` or not, a duration or still missing) and each waiting interview's deadline (overdue or
not). So a stored day stays right at any ``now``, and the medians and 90th percentiles come
from the durations themselves, not from an approximation. What a report reads from the
directory (ages, placements) is looked up when the figures are put together, so a directory
import changes no stored day.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain
from typing import Any

from mailbridge.reports.figures import (
    ACK_ROLES,
    AGE_BANDS,
    DAY,
    DURATION_BANDS,
    ESCALATIONS,
    INTERVIEW_STATUSES,
    REPEAT_LIST,
    AckRole,
    Failed,
    Figures,
    Interviews,
    Period,
    RepeatChild,
    Unmatched,
    by_type,
    host_authorities,
    months,
    most_first,
    spread,
)
from mailbridge.routing.authorities import Authorities

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WAITING = ("due", "offered", "accepted")
# owed, the five statuses, completed in time, completed with a date, with reasons
IV_FIELDS = 9


def micros(at: datetime) -> int:
    """A moment as whole microseconds since 1970 (exact, unlike a float)."""
    delta = at.astimezone(UTC) - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass
class Day:
    """One local day's episodes (by their start), void ones aside.

    Lists, not maps, for what grows with the episodes, so a day is quick to read back: the
    returns are in the order of their durations, negative ones (data errors) first.
    """

    episodes: int = 0
    police: int = 0
    unmatched: int = 0  # first recorded with no child
    matched_later: int = 0  # of them, with a child now
    hours: dict[str, int] = field(default_factory=dict)  # local hour of start: episodes
    returned_at: list[int] = field(default_factory=list)  # µs, in the order of returned_secs
    returned_secs: list[float] = field(default_factory=list)  # durations, ascending
    returned_last: int = 0  # µs of the last return (0: none)
    returned_bands: list[int] = field(default_factory=lambda: [0] * 5)  # invalid, then bands
    children: list[str] = field(default_factory=list)  # the child of each matched episode
    authorities: dict[str, int] = field(default_factory=dict)  # placement authority: episodes
    interviews: list[int] = field(default_factory=lambda: [0] * IV_FIELDS)
    waiting: list[int] = field(default_factory=list)  # deadline µs of due/offered/accepted
    reasons: dict[str, int] = field(default_factory=dict)
    alerted: dict[str, int] = field(default_factory=dict)  # role: episodes alerted
    waits: dict[str, list[float]] = field(default_factory=dict)  # role: secs to first ack
    escalations: dict[str, int] = field(default_factory=dict)  # esc1/esc2: done
    escalated: int = 0  # episodes with an escalation done

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Day:
        return cls(**json.loads(text))


def build(
    rows: Mapping[str, list[tuple[Any, ...]]], tz: Any, wanted: Iterable[date]
) -> dict[date, Day]:
    """The days ``wanted`` from the rows of ``store.rollups.day_rows`` (a day with no rows is
    an empty Day, stored as such, so it is not worked out again)."""
    days = {d: Day() for d in wanted}
    returns: dict[date, list[tuple[float, int]]] = {}

    def day_of(start: datetime) -> Day:
        return days[start.astimezone(tz).date()]

    for start, child, unmatched, police, returned_at, secs, hour, authority in rows["episodes"]:
        d = day_of(start)
        d.episodes += 1
        d.police += bool(police)
        if unmatched:
            d.unmatched += 1
            d.matched_later += child is not None
        d.hours[str(int(hour))] = d.hours.get(str(int(hour)), 0) + 1
        if returned_at is not None:
            returns.setdefault(start.astimezone(tz).date(), []).append(
                (float(secs), micros(returned_at))
            )
        if child is not None:
            d.children.append(str(child))
        if authority is not None:
            d.authorities[str(authority)] = d.authorities.get(str(authority), 0) + 1
    for when, found in returns.items():
        d = days[when]
        found.sort()
        d.returned_secs = [secs for secs, _ in found]
        d.returned_at = [at for _, at in found]
        d.returned_last = max(d.returned_at)
        for secs in d.returned_secs:
            d.returned_bands[0 if secs < 0 else 1 + _band(secs)] += 1
    for start, status, in_time, dated, due_at, codes in rows["interviews"]:
        d = day_of(start)
        iv = d.interviews
        iv[0] += 1
        if status in INTERVIEW_STATUSES:
            iv[1 + INTERVIEW_STATUSES.index(status)] += 1
        iv[6] += bool(in_time)
        iv[7] += bool(dated)
        if status in WAITING:
            d.waiting.append(micros(due_at))
        if isinstance(codes, list) and codes:
            iv[8] += 1
            for code in codes:
                d.reasons[str(code)] = d.reasons.get(str(code), 0) + 1
    for start, role, _episode in rows["alerts"]:
        d = day_of(start)
        d.alerted[str(role)] = d.alerted.get(str(role), 0) + 1
    for start, role, wait in rows["acks"]:
        day_of(start).waits.setdefault(str(role), []).append(float(wait))
    escalated: dict[date, set[int]] = {}
    for start, kind, episode in rows["escalations"]:
        d = day_of(start)
        short = ESCALATIONS[str(kind)]
        d.escalations[short] = d.escalations.get(short, 0) + 1
        escalated.setdefault(start.astimezone(tz).date(), set()).add(int(episode))
    for when, episodes in escalated.items():
        days[when].escalated = len(episodes)
    return days


def percentiles(values: list[float], fractions: Iterable[tuple[int, int]]) -> list[float | None]:
    """``percentile_cont`` over sorted ``values`` (linear interpolation, position p * (n - 1)),
    with the same arithmetic as ``store.figures.percentiles``: the same numbers, to the bit."""
    out: list[float | None] = []
    n = len(values)
    for a, b in fractions:
        if n == 0:
            out.append(None)
            continue
        lower, rest = divmod((n - 1) * a, b)
        x = values[lower]
        if rest:
            x += (values[lower + 1] - x) * rest / b
        out.append(x)
    return out


_P = ((1, 2), (9, 10))


@dataclass(frozen=True)
class Live:
    """The figures that belong to no day: read at report time by ``store.figures``."""

    missing_now: tuple[int, int]
    failed: Failed
    children: Mapping[str, tuple[int | None, int | None]]  # child: (dob YYYYMMDD, placement)
    placements: Mapping[int, tuple[str, str | None]]  # placement: (name, type)


def merge(
    days: Mapping[date, Day],
    *,
    period: Period,
    now: datetime,
    live: Live,
    authorities: Authorities,
    first_starts: Callable[[list[str]], Mapping[str, datetime]],
) -> Figures:
    """The figures of ``period`` as of ``now`` from its days (every day of it, empty or not).

    ``first_starts`` gives the first start in the period of the children named: read only for
    the few the repeat list has to order by it.
    """
    now_us = micros(now)
    total = Day()
    hours = [0] * 24
    weekdays = [0] * 7
    by_month: dict[str, int] = {}
    valid: list[float] = []
    bands = [0] * 5  # invalid, then DURATION_BANDS
    overdue = 0
    ages = dict.fromkeys(AGE_BANDS, 0)
    waits: dict[str, list[float]] = {}
    per_child: Counter[str] = Counter()
    dobs = _dobs(days.values(), live)
    for when, d in days.items():
        if not d.episodes:
            continue
        total.episodes += d.episodes
        total.police += d.police
        total.unmatched += d.unmatched
        total.matched_later += d.matched_later
        for hour, n in d.hours.items():
            hours[int(hour)] += n
        weekdays[when.isoweekday() - 1] += d.episodes
        key = f"{when.year:04d}-{when.month:02d}"
        by_month[key] = by_month.get(key, 0) + d.episodes
        if d.returned_last <= now_us:
            bands = [a + b for a, b in zip(bands, d.returned_bands, strict=True)]
            valid.extend(d.returned_secs[d.returned_bands[0] :])
        else:
            for at, secs in zip(d.returned_at, d.returned_secs, strict=True):
                if at <= now_us:
                    bands[0 if secs < 0 else 1 + _band(secs)] += 1
                    if secs >= 0:
                        valid.append(secs)
        per_child.update(d.children)
        _ages(ages, when, sorted(map(dobs.__getitem__, d.children)))
        _add(total.authorities, d.authorities)
        total.interviews = [a + b for a, b in zip(total.interviews, d.interviews, strict=True)]
        overdue += sum(1 for due in d.waiting if due <= now_us)
        _add(total.reasons, d.reasons)
        _add(total.alerted, d.alerted)
        for role, found in d.waits.items():
            waits.setdefault(role, []).extend(found)
        _add(total.escalations, d.escalations)
        total.escalated += d.escalated
    matched = sum(per_child.values())
    ages["unmatched"] = total.episodes - matched
    valid.sort()
    children = len(per_child)
    placements = _placements(per_child, live, ages["unmatched"])
    out_of_area, by_host = host_authorities(total.authorities.items(), authorities)
    repeat = [(child, n) for child, n in per_child.items() if n >= 2]
    listed = _repeat_list(repeat, first_starts)
    invalid = bands[0]
    returned = len(valid) + invalid
    return Figures(
        period=period,
        generated_at=now,
        episodes=total.episodes,
        children=children,
        episodes_per_child=round(matched / children, 2) if children else None,
        children_2plus=len(repeat),
        children_3plus=sum(1 for _, n in repeat if n >= 3),
        missing_now_children=live.missing_now[0],
        missing_now_unmatched=live.missing_now[1],
        returned=returned,
        still_missing=total.episodes - returned,
        duration_bands=dict(zip(DURATION_BANDS, bands[1:], strict=True)),
        duration_invalid=invalid,
        duration=spread(len(valid), *percentiles(valid, _P)),
        by_age_band=ages,
        by_placement=placements,
        by_placement_type=by_type(placements),
        by_hour=hours,
        by_weekday=weekdays,
        by_month=months(period, by_month),
        police_reference=total.police,
        interviews=_interviews(total.interviews, overdue),
        reasons=sorted(total.reasons.items(), key=most_first),
        interviews_with_reasons=total.interviews[8],
        acks=_acks(total.alerted, waits),
        escalations={short: total.escalations.get(short, 0) for short in ESCALATIONS.values()},
        episodes_escalated=total.escalated,
        unmatched=Unmatched(
            total.unmatched, total.matched_later, total.unmatched - total.matched_later
        ),
        failed=live.failed,
        repeat_children=listed,
        repeat_children_more=len(repeat) - len(listed),
        out_of_area=out_of_area,
        by_host_authority=by_host,
    )


def _repeat_list(
    repeat: list[tuple[str, int]],
    first_starts: Callable[[list[str]], Mapping[str, datetime]],
) -> list[RepeatChild]:
    """The REPEAT_LIST children with most episodes; ties by first start, then child ID."""
    if not repeat:
        return []
    counts = sorted((n for _, n in repeat), reverse=True)
    cut = counts[min(REPEAT_LIST, len(counts)) - 1]
    candidates = [(child, n) for child, n in repeat if n >= cut]
    firsts = first_starts([child for child, _ in candidates])
    ordered = sorted(candidates, key=lambda c: (-c[1], firsts[c[0]], c[0]))
    return [RepeatChild(cid, n, cid, None) for cid, n in ordered[:REPEAT_LIST]]


UNKNOWN_DOB = 0  # sorts before every date of birth


def _dobs(days: Iterable[Day], live: Live) -> dict[str, int]:
    """Every child of these days: date of birth as YYYYMMDD, UNKNOWN_DOB when not known."""
    dobs = {child: dob or UNKNOWN_DOB for child, (dob, _place) in live.children.items()}
    for child in set(chain.from_iterable(d.children for d in days)) - dobs.keys():
        dobs[child] = UNKNOWN_DOB
    return dobs


def _ages(ages: dict[str, int], when: date, dobs: list[int]) -> None:
    """Add one day's episodes to the age bands, from their children's sorted birth dates.

    The full scan's age is (YYYYMMDD of the start - YYYYMMDD of birth) / 10000, truncated
    toward zero: under 10 when the difference is under 100000 (a birth after the start is
    under 10 too), 16+ from 160000.
    """
    if not dobs:
        return
    ymd = when.year * 10000 + when.month * 100 + when.day
    unknown = bisect_right(dobs, UNKNOWN_DOB)
    sixteen = bisect_right(dobs, ymd - 160000) - unknown
    under_ten = len(dobs) - bisect_right(dobs, ymd - 100000)
    ages["unknown DOB"] += unknown
    ages["16+"] += sixteen
    ages["under 10"] += under_ten
    ages["10–15"] += len(dobs) - unknown - sixteen - under_ten


def _add(into: dict[str, int], more: Mapping[str, int]) -> None:
    for key, n in more.items():
        into[key] = into.get(key, 0) + n


def _band(secs: float) -> int:
    if secs < DAY:
        return 0
    if secs < 2 * DAY:
        return 1
    return 2 if secs < 7 * DAY else 3


def _placements(
    children: Mapping[str, int], live: Live, unmatched: int
) -> list[tuple[str, str, int]]:
    """Episodes per (placement, type) of each child's placement today, most first."""
    found: dict[tuple[str, str], int] = {}
    for child, n in children.items():
        pid = live.children.get(child, (None, None))[1]
        place = None if pid is None else live.placements.get(pid)
        if place is None:
            key = ("(no placement)", "(no placement)")
        else:
            key = (place[0], place[1] or "(type not recorded)")
        found[key] = found.get(key, 0) + n
    places = [(name, kind, n) for (name, kind), n in found.items()]
    if unmatched:
        places.append(("(unmatched)", "(unmatched)", unmatched))
    return sorted(places, key=most_first)


def _interviews(iv: list[int], overdue: int) -> Interviews:
    owed, *statuses = iv[:6]
    by_status = dict(zip(INTERVIEW_STATUSES, statuses, strict=True))
    return Interviews(
        owed=owed,
        by_status=by_status,
        offered=owed - by_status["due"],
        completed_in_time=iv[6],
        completed_late=iv[7] - iv[6],
        completed_undated=by_status["completed"] - iv[7],
        overdue_open=overdue,
    )


def _acks(alerted: Mapping[str, int], waits: dict[str, list[float]]) -> list[AckRole]:
    out = []
    for role in sorted(alerted):
        if role not in ACK_ROLES:
            continue
        found = sorted(waits.get(role, []))
        out.append(
            AckRole(role, alerted[role], len(found), spread(len(found), *percentiles(found, _P)))
        )
    return out
