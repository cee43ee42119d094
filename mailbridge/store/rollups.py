"""The report's daily rollups: the days stored, the marks of what changed, the rows of a day.

Why: a ten-year report would otherwise read every episode, alert and interview of ten years.
Instead each local day's contribution to the figures is stored once (``report_days``, one row a
day, ``reports/daily.py`` makes and reads it) and recomputed only when something of that day
changes. What changed is recorded by database triggers (migration 0016) in ``report_marks``, in
the transaction of the change, whatever code makes it: an episode inserted, edited, voided,
merged or deleted, and its interviews, alerts, acknowledgements and escalations. A mark holds
the episode's start; its local date names the day to recompute (an edit that moves the start
marks the old day and the new one).

Consistency, without holding the write lock while rolling up:

- the report reads the state, the stored days and the marks, and recomputes the marked and
  missing days, all in one read snapshot (``store.figures.snapshot``);
- it then writes those days and deletes the marks it read, in one short write transaction, only
  if ``report_days_state.version`` is still the one it read (each write bumps it). A change
  committed after the snapshot has a mark the report did not read, so it stays for the next
  report; two reports at once cannot write over each other's newer days.

The days are stored for one time zone (the service's); a report in another zone ignores them
and its write replaces them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from mailbridge.reports.figures import ACK_ROLES, ESCALATIONS, UNMATCHED_METHODS, VOID
from mailbridge.store import sql
from mailbridge.store.models import (
    Acknowledgement,
    Alert,
    Child,
    DueAction,
    Episode,
    Interview,
    Placement,
    ReportDay,
    ReportDaysState,
    ReportMark,
)
from mailbridge.store.sqltime import SqlTime

log = logging.getLogger(__name__)

STATE_ID = 1
# Days per statement when rolling up: a bound per run of consecutive days, so a handful of
# scattered edits and ten years at once both stay a few statements.
RUNS_PER_QUERY = 200
DELETE_CHUNK = 1000


def state(t: Session) -> tuple[str, int]:
    """The time zone of the stored days and their version (``("", 0)`` before the first)."""
    row = t.execute(
        select(ReportDaysState.tz, ReportDaysState.version).where(ReportDaysState.id == STATE_ID)
    ).first()
    return (str(row[0]), int(row[1])) if row else ("", 0)


def stored_days(t: Session, tz: str, first: date, last: date) -> dict[date, str]:
    """The stored days of ``first``..``last``: the day's data as written."""
    rows = t.execute(
        select(ReportDay.day, ReportDay.data).where(
            ReportDay.tz == tz, ReportDay.day >= first, ReportDay.day <= last
        )
    )
    return {day: data for day, data in rows}


def stored_counts(t: Session, tz: str, first: date, last: date) -> dict[date, int]:
    """The episodes of each stored day of ``first``..``last``, without the rest of the day."""
    rows = t.execute(
        select(ReportDay.day, ReportDay.episodes).where(
            ReportDay.tz == tz, ReportDay.day >= first, ReportDay.day <= last
        )
    )
    return {day: int(n) for day, n in rows}


def marks(t: Session) -> list[tuple[int, datetime | None]]:
    """Every mark not yet consumed: (id, start of the changed episode)."""
    return [(int(i), at) for i, at in t.execute(select(ReportMark.id, ReportMark.at))]


def write_days(
    engine: Engine,
    *,
    tz: str,
    version: int,
    days: dict[date, tuple[int, str]],
    consumed: Sequence[int],
) -> bool:
    """Store ``days`` (episodes, data) and delete the ``consumed`` marks, unless a report
    wrote since ``version``.

    Returns whether it wrote. A report that finds the version moved leaves everything as it is:
    its figures are still right, only its work is not kept; so does one that cannot write (a
    store it may only read, a lock it waited too long for), with a warning in the log.
    """
    try:
        with Session(engine) as t, t.begin():
            state = sql.insert_ignore(t, ReportDaysState, key=["id"])
            t.execute(state.values(id=STATE_ID, tz=tz, version=0))
            current = t.execute(
                select(ReportDaysState.tz, ReportDaysState.version)
                .where(ReportDaysState.id == STATE_ID)
                .with_for_update()
            ).one()
            if int(current[1]) != version:
                return False
            if current[0] != tz:
                t.execute(delete(ReportDay))
            existing = set(
                t.scalars(
                    select(ReportDay.day).where(ReportDay.tz == tz, ReportDay.day.in_(list(days)))
                )
                if len(days) <= DELETE_CHUNK
                else t.scalars(select(ReportDay.day).where(ReportDay.tz == tz))
            )
            fresh = [
                {"tz": tz, "day": d, "episodes": n, "data": data}
                for d, (n, data) in days.items()
                if d not in existing
            ]
            if fresh:
                t.execute(insert(ReportDay), fresh)
            for d, (n, data) in days.items():
                if d in existing:
                    t.execute(
                        update(ReportDay)
                        .where(ReportDay.tz == tz, ReportDay.day == d)
                        .values(episodes=n, data=data)
                    )
            ids = list(consumed)
            for i in range(0, len(ids), DELETE_CHUNK):
                t.execute(delete(ReportMark).where(ReportMark.id.in_(ids[i : i + DELETE_CHUNK])))
            t.execute(
                update(ReportDaysState)
                .where(ReportDaysState.id == STATE_ID)
                .values(tz=tz, version=version + 1)
            )
    except SQLAlchemyError as exc:
        log.warning("report: the rolled-up days were not kept (%s)", type(exc).__name__)
        return False
    return True


def runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs, in order."""
    out: list[tuple[date, date]] = []
    for d in sorted(set(days)):
        if out and out[-1][1] + timedelta(days=1) == d:
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def _start() -> ColumnElement[Any]:
    return func.coalesce(Episode.last_seen_at, Episode.opened_at)


def _within(bounds: Sequence[tuple[datetime, datetime]]) -> ColumnElement[bool]:
    start = _start()
    return and_(
        or_(*(and_(start >= lo, start < hi) for lo, hi in bounds)),
        Episode.status != VOID,
    )


def day_rows(
    t: Session, st: SqlTime, bounds: Sequence[tuple[datetime, datetime]]
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the figures read for the episodes starting within ``bounds`` (UTC, half-open),
    void ones aside, each with the episode's start (its day). The same SQL expressions as the
    full scan (``store/figures.py``), so durations and waits are the same numbers.
    """
    out: dict[str, list[tuple[Any, ...]]] = {
        "episodes": [],
        "interviews": [],
        "alerts": [],
        "acks": [],
        "escalations": [],
    }
    for i in range(0, len(bounds), RUNS_PER_QUERY):
        part = bounds[i : i + RUNS_PER_QUERY]
        for name, query in _queries(st, _within(part)).items():
            out[name].extend(tuple(row) for row in t.execute(query))
    return out


def _queries(st: SqlTime, within: ColumnElement[bool]) -> dict[str, Any]:
    start = _start()
    unmatched = or_(Episode.match_method.in_(UNMATCHED_METHODS), Episode.child_id.is_(None))
    police = and_(Episode.police_reference.is_not(None), Episode.police_reference != "")
    secs = st.seconds(Episode.returned_at) - st.seconds(start)
    iv = Interview
    completed = iv.status == "completed"
    dated = and_(completed, iv.held_on.is_not(None))
    deadline = st.day(st.local_seconds(iv.due_at))
    ack = Acknowledgement
    acked = (
        select(ack.episode_id, ack.role, func.min(ack.at).label("at"))
        .join(Episode, Episode.id == ack.episode_id)
        .where(within, ack.role.in_(ACK_ROLES))
        .group_by(ack.episode_id, ack.role)
        .subquery()
    )
    return {
        "episodes": select(
            start,
            Episode.child_id,
            unmatched,
            police,
            Episode.returned_at,
            secs,
            st.hour(st.local_seconds(start)),
            Episode.placement_authority,
        ).where(within),
        "interviews": select(
            start,
            iv.status,
            and_(dated, st.date_day(iv.held_on) <= deadline),
            dated,
            iv.due_at,
            iv.reason_codes,
        )
        .join(Episode, Episode.id == iv.episode_id)
        .where(within),
        "alerts": select(start, Alert.role, Alert.episode_id)
        .join(Episode, Episode.id == Alert.episode_id)
        .where(within, Alert.role.in_(ACK_ROLES))
        .group_by(start, Alert.role, Alert.episode_id),
        "acks": select(
            start,
            acked.c.role,
            st.seconds(acked.c.at) - st.seconds(func.min(Alert.created_at)),
        )
        .select_from(acked)
        .join(Episode, Episode.id == acked.c.episode_id)
        .join(Alert, and_(Alert.episode_id == acked.c.episode_id, Alert.role == acked.c.role))
        .group_by(start, acked.c.episode_id, acked.c.role, acked.c.at),
        "escalations": select(start, DueAction.kind, DueAction.episode_id)
        .join(Episode, Episode.id == DueAction.episode_id)
        .where(within, DueAction.status == "done", DueAction.kind.in_(ESCALATIONS)),
    }


def directory(
    t: Session, st: SqlTime
) -> tuple[dict[str, tuple[int | None, int | None]], dict[int, tuple[str, str | None]]]:
    """Every child (birth date as YYYYMMDD, placement id) and placement (name, type), as the
    report reads them today: ages and placements follow the directory, not the day."""
    children = {
        str(cid): (None if dob is None else int(dob), None if pid is None else int(pid))
        for cid, dob, pid in t.execute(
            select(Child.child_id, st.date_ymd(Child.date_of_birth), Child.placement_id)
        )
    }
    placements = {
        int(pid): (str(name), kind)
        for pid, name, kind in t.execute(
            select(Placement.id, Placement.name, Placement.placement_type)
        )
    }
    return children, placements


def child_names(t: Session, ids: Sequence[str]) -> dict[str, str]:
    """Full names of the children ``ids`` (those the directory knows)."""
    rows = t.execute(
        select(Child.child_id, Child.first_name, Child.last_name).where(Child.child_id.in_(ids))
    )
    return {str(cid): f"{first} {last}" for cid, first, last in rows}


def first_starts(t: Session, ids: Sequence[str], lo: datetime, hi: datetime) -> dict[str, datetime]:
    """The first start in ``lo``..``hi`` of each child ``ids`` (void episodes aside)."""
    start = _start()
    found: dict[str, datetime] = {}
    for i in range(0, len(ids), DELETE_CHUNK):
        rows = t.execute(
            select(Episode.child_id, func.min(start))
            .where(
                Episode.child_id.in_(ids[i : i + DELETE_CHUNK]),
                start >= lo,
                start < hi,
                Episode.status != VOID,
            )
            .group_by(Episode.child_id)
        )
        found.update((str(cid), at) for cid, at in rows)
    return found
