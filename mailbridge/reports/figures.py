"""The shapes of the report's figures, and the definitions they share (docs/report.md).

Plain data, no I/O: the full scan (``store/figures.py``) and the daily rollups
(``reports/daily.py``) both fill these, so the two ways of working out a report give the same
type and can be compared field by field.

The period: ``start`` and ``end`` are local dates in ``service.timezone``, both inclusive. An
episode belongs to the period when it **starts** in it, where its start is
``coalesce(last_seen_at, opened_at)`` (when the child was last seen, else when we heard). An
episode that starts in the period and ends after it (or has not ended) is counted; it has a
duration if it had returned by ``now``, else it is "still missing".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from mailbridge.routing.authorities import Authorities

HOUR = 3600.0
DAY = 86400.0
DURATION_BANDS = ("< 24 h", "1–2 days", "2–7 days", "> 7 days")
AGE_BANDS = ("under 10", "10–15", "16+", "unknown DOB", "unmatched")
INTERVIEW_STATUSES = ("due", "offered", "accepted", "declined", "completed")
ESCALATIONS = {"escalate_team_manager": "esc1", "escalate_duty": "esc2"}
# The roles asked to acknowledge an alert: the allocated social worker, and those the escalation
# goes to when nobody does (team manager, then duty or the EDT). Others (IRO, apprentice) are
# told for information; receipts, the fallback address and interviewers are not staff alerts.
ACK_ROLES = ("social_worker", "team_manager", "duty", "edt")
# How a report that matched no child was first recorded (reading/match.py).
UNMATCHED_METHODS = ("none", "ambiguous")
VOID = "void"  # docs/casework.md: void episodes are in no figure
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Period:
    start: date  # local, inclusive
    end: date  # local, inclusive
    timezone: str
    start_utc: datetime  # local midnight at the start of ``start``
    end_utc: datetime  # local midnight after ``end`` (exclusive)


@dataclass(frozen=True)
class Spread:
    """Median and 90th percentile (linear interpolation, as ``percentile_cont``), in hours."""

    count: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class Interviews:
    """Return home interviews owed for the period's episodes, by their current status."""

    owed: int
    by_status: dict[str, int]  # INTERVIEW_STATUSES, current status of each interview
    offered: int  # ever offered: offered + accepted + declined + completed
    completed_in_time: int  # completed, held on or before the local date of due_at
    completed_late: int  # completed, held after it
    completed_undated: int  # completed with no date held
    overdue_open: int  # due/offered/accepted, past due_at at report time


@dataclass(frozen=True)
class AckRole:
    role: str
    alerted: int  # episodes with at least one alert to this role
    acknowledged: int  # of them, acknowledged by someone in this role
    time_to_ack: Spread  # first acknowledgement minus first alert to the role


@dataclass(frozen=True)
class Unmatched:
    """Episodes of the period first recorded with no child, and what became of them."""

    reported: int  # match_method none/ambiguous, or child_id NULL now
    matched_later: int  # of them, with a child_id now
    still_unmatched: int  # of them, child_id still NULL


@dataclass(frozen=True)
class Failed:
    """Inbound messages received in the period that ended ``failed`` at least once."""

    failed: int
    still_failed: int  # status failed now
    reprocessed_processed: int  # reprocessed, now processed
    reprocessed_ignored: int  # reprocessed, now ignored
    pending: int  # reprocessed, waiting for the worker


@dataclass(frozen=True)
class RepeatChild:
    """A child with 2+ episodes. ``label`` is what reports show (a pseudonym unless names)."""

    label: str
    episodes: int
    child_id: str | None
    name: str | None


@dataclass(frozen=True)
class Figures:
    period: Period
    generated_at: datetime
    episodes: int
    children: int  # distinct matched children
    episodes_per_child: float | None  # matched episodes / children
    children_2plus: int
    children_3plus: int
    missing_now_children: int  # distinct children with an episode open at ``generated_at``
    missing_now_unmatched: int  # open unmatched episodes then
    returned: int
    still_missing: int
    duration_bands: dict[str, int]
    duration_invalid: int  # returned before the start: a data error, not in bands or median
    duration: Spread
    by_age_band: dict[str, int]
    by_placement: list[tuple[str, str, int]]  # (placement, type, episodes), most first
    by_placement_type: dict[str, int]
    by_hour: list[int]  # local hour of start, 0..23
    by_weekday: list[int]  # local day of start, Monday first
    by_month: list[tuple[str, int]]  # local month of start, every month of the period
    police_reference: int
    interviews: Interviews
    reasons: list[tuple[str, int]]  # reason code, interviews citing it; most first
    interviews_with_reasons: int
    acks: list[AckRole]
    escalations: dict[str, int]  # esc1 / esc2 done
    episodes_escalated: int
    unmatched: Unmatched
    failed: Failed
    repeat_children: list[RepeatChild]  # 2+ episodes, most first, at most REPEAT_LIST
    repeat_children_more: int  # how many more are not listed
    # Children placed in another council's area (docs/out-of-area.md), by the placement
    # authority each episode opened under: episodes out of area, and per host authority
    # (label, episodes), most first. An authority the file does not know counts as out of area.
    out_of_area: int = 0
    by_host_authority: list[tuple[str, int]] = field(default_factory=list)


REPEAT_LIST = 20


def period_bounds(start: date, end: date, tz: Any) -> tuple[datetime, datetime]:
    """Local midnight to local midnight, in UTC: a day is 23 or 25 hours on a clock change."""
    lo = datetime.combine(start, time(), tz).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time(), tz).astimezone(UTC)
    return lo, hi


def make_period(start: date, end: date, tz: Any) -> Period:
    """The period of the local dates ``start``..``end``; refuses one that ends before it starts."""
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    lo, hi = period_bounds(start, end, tz)
    return Period(start, end, tz.key, lo, hi)


def spread(n: int, median: float | None, p90: float | None) -> Spread:
    """Seconds to the hours a Spread holds."""
    return Spread(
        n,
        None if median is None else median / HOUR,
        None if p90 is None else p90 / HOUR,
    )


def most_first(row: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
    """Sort key: the count (last item) descending, then the rest ascending."""
    return -row[-1], row[:-1]


def months(period: Period, found: dict[str, int]) -> list[tuple[str, int]]:
    """Every month of the period, ``YYYY-MM``, with its count (0 when none)."""
    out = []
    y, m = period.start.year, period.start.month
    while (y, m) <= (period.end.year, period.end.month):
        key = f"{y:04d}-{m:02d}"
        out.append((key, found.get(key, 0)))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def by_type(placements: list[tuple[str, str, int]]) -> dict[str, int]:
    """Episodes per placement type, most first."""
    found: dict[str, int] = {}
    for _name, kind, n in placements:
        found[kind] = found.get(kind, 0) + n
    return dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))


def host_authorities(
    rows: Iterable[tuple[str, int]], authorities: Authorities
) -> tuple[int, list[tuple[str, int]]]:
    """Episodes out of area from (placement authority, episodes) rows: the total, and per host
    authority (label, episodes), most first. One the file does not know counts as out of area."""
    by_host: dict[str, int] = {}
    for given, n in rows:
        if not authorities.out_of_area(given):
            continue
        found = authorities.find(given)
        label = f"{found.name} ({found.code})" if found else f"{given} (not in the file)"
        by_host[label] = by_host.get(label, 0) + int(n)
    ordered = sorted(by_host.items(), key=lambda kv: (-kv[1], kv[0]))
    return sum(by_host.values()), ordered
