"""The figures for a period: from the daily rollups, or by a full scan when asked.

docs/report.md defines every figure; ``reports/figures.py`` holds their shapes. By default a
report reads the period's stored days (``store/rollups.py``), recomputes in the same snapshot
only the days that changed since they were stored (marked by database triggers in the
transaction of each change) or were never stored, and adds up the days (``reports/daily.py``):
a ten-year report reads about 3,650 day rows instead of every episode, alert and interview.
Then, in a short write transaction, it keeps the days it recomputed.

``recompute=True`` is the full scan of the episodes (``store/figures.py``), the reference the
rollups are tested against; it changes nothing stored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from mailbridge.reports import daily
from mailbridge.reports.figures import Figures, make_period, period_bounds
from mailbridge.routing.authorities import Authorities
from mailbridge.store import figures as stored
from mailbridge.store import reporting, rollups, tx

__all__ = ["compute", "count_episodes"]


def compute(
    engine: tx.Engine,
    *,
    start: date,
    end: date,
    tz: Any,
    now: datetime | None = None,
    authorities: Authorities | None = None,
    recompute: bool = False,
) -> Figures:
    """Every figure for the local dates ``start``..``end`` (inclusive), as of ``now``."""
    period = make_period(start, end, tz)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    authorities = authorities or Authorities()
    with reporting.snapshot(engine) as t:
        if recompute:
            return stored.full_scan(t, period=period, tz=tz, now=now, authorities=authorities)
        days, kept = _days(engine, t, tz, start, end, now=now)
        st = reporting.sql_time(t, tz, start, end, now)
        children, placements = rollups.directory(t, st)
        live = daily.Live(
            missing_now=reporting.missing_now(t, now),
            failed=reporting.failed(t, period),
            children=children,
            placements=placements,
        )
        figures = daily.merge(
            days,
            period=period,
            now=now,
            live=live,
            authorities=authorities,
            first_starts=lambda ids: rollups.first_starts(t, ids, period.start_utc, period.end_utc),
        )
    kept()
    return figures


def count_episodes(
    engine: tx.Engine, *, start: date, end: date, tz: Any, recompute: bool = False
) -> int:
    """``Figures.episodes`` alone, for another period (the headline's "last period"): the same
    definition, an episode belongs to the period in which it starts (void ones aside)."""
    make_period(start, end, tz)
    with reporting.snapshot(engine) as t:
        if recompute:
            return stored.count_episodes(t, *period_bounds(start, end, tz))
        now = datetime.now(UTC)
        days, kept = _days(engine, t, tz, start, end, now=now, counts_only=True)
    kept()
    return sum(d.episodes for d in days.values())


class _Keep:
    """Writes the recomputed days after the snapshot is closed (``rollups.write_days``)."""

    def __init__(
        self,
        engine: tx.Engine,
        tz: str,
        version: int,
        days: dict[date, tuple[int, str]],
        consumed: list[int],
    ) -> None:
        self.engine, self.tz, self.version = engine, tz, version
        self.days, self.consumed = days, consumed

    def __call__(self) -> bool:
        if not self.days and not self.consumed:
            return True
        return rollups.write_days(
            self.engine,
            tz=self.tz,
            version=self.version,
            days=self.days,
            consumed=self.consumed,
        )


def _days(
    engine: tx.Engine,
    t: tx.Tx,
    tz: Any,
    start: date,
    end: date,
    *,
    now: datetime,
    counts_only: bool = False,
) -> tuple[dict[date, daily.Day], _Keep]:
    """Every day of ``start``..``end``: stored ones as stored, the others worked out now.

    ``counts_only``: the stored days hold their episodes alone (``count_episodes``).
    """
    zone, version = rollups.state(t)
    stored_days: dict[date, Any] = {}
    if zone == tz.key:
        read = rollups.stored_counts if counts_only else rollups.stored_days
        stored_days = read(t, tz.key, start, end)
    dirty: set[date] = set()
    consumed: list[int] = []
    for mark, at in rollups.marks(t):
        if at is None:
            consumed.append(mark)
            continue
        day = at.astimezone(tz).date()
        if start <= day <= end:
            dirty.add(day)
            consumed.append(mark)
    every = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    wanted = [d for d in every if d in dirty or d not in stored_days]
    load = (lambda n: daily.Day(episodes=n)) if counts_only else daily.Day.from_json
    days = {d: load(data) for d, data in stored_days.items() if d not in dirty}
    fresh: dict[date, daily.Day] = {}
    if wanted:
        first, last = wanted[0], wanted[-1]
        st = reporting.sql_time(t, tz, first, last, now)
        bounds = [period_bounds(a, b, tz) for a, b in rollups.runs(wanted)]
        fresh = daily.build(rollups.day_rows(t, st, bounds), tz, wanted)
        days.update(fresh)
    keep = _Keep(
        engine, tz.key, version, {d: (v.episodes, v.to_json()) for d, v in fresh.items()}, consumed
    )
    return days, keep
