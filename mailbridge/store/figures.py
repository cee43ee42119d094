"""The report's figures by a full scan of the period: the reference for the daily rollups.

Moved here from ``reports/stats.py`` (only ``store/`` talks to the database). The full scan is
the reference: ``reports/stats.compute(recompute=True)`` runs it, and the integration tests
compare it with the daily rollups (``store/rollups.py``, ``reports/daily.py``) figure by figure.

Each figure is a GROUP BY or a conditional sum, worked out by the database over temporary tables
of the period's episodes (made and filled by ``store/scan_tables.py``); Python only reshapes the
few aggregate rows that come back. One code path on SQLite and PostgreSQL (``sqltime`` hides the
two date dialects).

The read snapshot, and the figures that belong to no day of the period (who is missing now,
the failed messages), are in ``store/reporting.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, distinct, func, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from mailbridge.reports.figures import (
    ACK_ROLES,
    AGE_BANDS,
    DAY,
    DURATION_BANDS,
    ESCALATIONS,
    INTERVIEW_STATUSES,
    REPEAT_LIST,
    VOID,
    AckRole,
    Figures,
    Interviews,
    Period,
    RepeatChild,
    Spread,
    Unmatched,
    by_type,
    host_authorities,
    months,
    most_first,
    spread,
)
from mailbridge.routing.authorities import Authorities
from mailbridge.store import reporting, scan_tables
from mailbridge.store.models import Alert, DueAction, Episode, Interview, Placement
from mailbridge.store.reporting import count_if as _count_if
from mailbridge.store.scan_tables import ACKED, CHILD, DUR, EP
from mailbridge.store.sqltime import SqlTime


def full_scan(
    t: Session, *, period: Period, tz: Any, now: datetime, authorities: Authorities
) -> Figures:
    """Every figure of ``period`` as of ``now``, from the episodes themselves."""
    st = reporting.sql_time(t, tz, period.start, period.end, now)
    return _Query(t.connection(), st, period, now).figures(authorities)


def count_episodes(t: Session, lo: datetime, hi: datetime) -> int:
    """Episodes that start in ``lo``..``hi`` (UTC, half-open), void ones aside as in every
    figure (they were counted here before, so "against the last period" compared unlike)."""
    begins = func.coalesce(Episode.last_seen_at, Episode.opened_at)
    found = t.execute(
        select(func.count(Episode.id)).where(begins >= lo, begins < hi, Episode.status != VOID)
    ).scalar()
    return int(found or 0)


def percentiles(
    conn: Connection,
    value: ColumnElement[Any],
    where: ColumnElement[bool],
    n: int,
    fractions: tuple[tuple[int, int], ...] = ((1, 2), (9, 10)),
) -> tuple[int, list[float | None]]:
    """Percentiles of ``value`` over the ``n`` rows that match ``where`` (linear interpolation).

    ``percentile_cont``'s rule: position p * (n - 1), zero-based. Each percentile is one
    ``ORDER BY value LIMIT 2 OFFSET k``: with an index on ``value`` for these rows (the report
    makes one on each temporary table), the database walks k index entries and returns the one
    or two values the percentile falls between, instead of numbering every row with a window
    function. ``fractions`` are (a, b) for p = a / b, so the positions stay integers.
    """
    results: list[float | None] = []
    for a, b in fractions:
        if n == 0:
            results.append(None)
            continue
        lower, rest = divmod((n - 1) * a, b)
        got = [
            float(x)
            for x in conn.execute(
                select(value).where(where).order_by(value).limit(2 if rest else 1).offset(lower)
            ).scalars()
        ]
        x = got[0]
        if rest:
            x += (got[1] - x) * rest / b
        results.append(x)
    return n, results


def _spread(found: tuple[int, list[float | None]]) -> Spread:
    n, (median, p90) = found
    return spread(n, median, p90)


class _Query:
    """The queries of one report, over temporary tables of the period's episodes.

    Each figure is a GROUP BY or a conditional sum over ``mb_report_ep``, which holds the
    period's episodes with their start in local seconds (see ``sqltime``) worked out once per
    episode instead of once per query (``store/scan_tables.py`` makes and fills the tables).
    """

    def __init__(self, conn: Connection, st: SqlTime, period: Period, now: datetime) -> None:
        self.conn = conn
        self.st = st
        self.period = period
        self.now = now
        self.ep = EP
        scan_tables.fill(conn, st, period, now)

    def figures(self, authorities: Authorities) -> Figures:
        ep = self.ep
        returned = ep.c.returned == 1
        secs = ep.c.secs
        first_unmatched = ep.c.first_unmatched == 1
        row = self.conn.execute(
            select(
                func.count(),
                _count_if(returned),
                _count_if(and_(returned, secs < 0)),
                _count_if(and_(returned, secs >= 0, secs < DAY)),
                _count_if(and_(returned, secs >= DAY, secs < 2 * DAY)),
                _count_if(and_(returned, secs >= 2 * DAY, secs < 7 * DAY)),
                _count_if(and_(returned, secs >= 7 * DAY)),
                func.coalesce(func.sum(ep.c.police), 0),
                _count_if(first_unmatched),
                _count_if(and_(first_unmatched, ep.c.child_id.is_not(None))),
            ).select_from(ep)
        ).one()
        episodes, n_returned, invalid, *bands, police, unmatched, later = (int(x) for x in row)
        duration = _spread(percentiles(self.conn, DUR.c.secs, true(), n_returned - invalid))
        children, matched, two, three = self._repeat()
        hours, weekdays = self._clock()
        esc, escalated = self._escalations()
        interviews, with_reasons = self._interviews()
        ages, placements = self._who(episodes)
        now_children, now_unmatched = reporting.missing_now(self.conn, self.now)
        repeat, more = self._repeat_children()
        out_of_area, by_host = self._placed(authorities)
        return Figures(
            period=self.period,
            generated_at=self.now,
            episodes=episodes,
            children=children,
            episodes_per_child=round(matched / children, 2) if children else None,
            children_2plus=two,
            children_3plus=three,
            missing_now_children=now_children,
            missing_now_unmatched=now_unmatched,
            returned=n_returned,
            still_missing=episodes - n_returned,
            duration_bands=dict(zip(DURATION_BANDS, bands, strict=True)),
            duration_invalid=invalid,
            duration=duration,
            by_age_band=ages,
            by_placement=placements,
            by_placement_type=by_type(placements),
            by_hour=hours,
            by_weekday=weekdays,
            by_month=months(self.period, self._months()),
            police_reference=police,
            interviews=interviews,
            reasons=self._reasons(),
            interviews_with_reasons=with_reasons,
            acks=self._acks(),
            escalations=esc,
            episodes_escalated=escalated,
            unmatched=Unmatched(unmatched, later, unmatched - later),
            failed=reporting.failed(self.conn, self.period),
            repeat_children=repeat,
            repeat_children_more=more,
            out_of_area=out_of_area,
            by_host_authority=by_host,
        )

    def _placed(self, authorities: Authorities) -> tuple[int, list[tuple[str, int]]]:
        """Episodes by the placement authority they opened under, out-of-area ones only."""
        ep = self.ep
        rows = self.conn.execute(
            select(Episode.placement_authority, func.count())
            .join(ep, ep.c.id == Episode.id)
            .where(Episode.placement_authority.is_not(None))
            .group_by(Episode.placement_authority)
        ).all()
        return host_authorities(((str(g), int(n)) for g, n in rows), authorities)

    def _repeat(self) -> tuple[int, int, int, int]:
        per = CHILD
        row = self.conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(per.c.n), 0),
                _count_if(per.c.n >= 2),
                _count_if(per.c.n >= 3),
            )
        ).one()
        children, matched, two, three = (int(x) for x in row)
        return children, matched, two, three

    def _repeat_children(self) -> tuple[list[RepeatChild], int]:
        per = CHILD
        rows = self.conn.execute(
            select(per.c.child_id, per.c.n, func.count().over().label("total"))
            .where(per.c.n >= 2)
            .order_by(per.c.n.desc(), per.c.first, per.c.child_id)
            .limit(REPEAT_LIST)
        ).all()
        listed = [RepeatChild(cid, int(n), cid, None) for cid, n, _ in rows]
        total = int(rows[0][2]) if rows else 0
        return listed, total - len(listed)

    def _who(self, episodes: int) -> tuple[dict[str, int], list[tuple[str, str, int]]]:
        """Episodes by age band at start (per episode), and by placement (per child)."""
        ep, per = self.ep, CHILD
        age = (ep.c.ymd - per.c.dob) // 10000
        dob = per.c.dob.is_not(None)
        # Conditional sums, no GROUP BY: one pass, no sort. Unmatched episodes have no row in
        # mb_report_child; "16+" is what is left of the episodes with a birth date.
        row = self.conn.execute(
            select(
                func.count(),
                _count_if(per.c.dob.is_(None)),
                _count_if(and_(dob, age < 10)),
                _count_if(and_(dob, age >= 10, age < 16)),
            )
            .select_from(ep)
            .join(per, per.c.child_id == ep.c.child_id)
        ).one()
        matched, unknown, under_10, teens = (int(x) for x in row)
        older = matched - unknown - under_10 - teens
        counts = (under_10, teens, older, unknown, episodes - matched)
        ages = dict(zip(AGE_BANDS, counts, strict=True))
        name = case((Placement.id.is_(None), "(no placement)"), else_=Placement.name)
        kind = case(
            (Placement.id.is_(None), "(no placement)"),
            (func.coalesce(Placement.placement_type, "") == "", "(type not recorded)"),
            else_=Placement.placement_type,
        )
        rows = self.conn.execute(
            select(name.label("name"), kind.label("kind"), func.sum(per.c.n))
            .select_from(per)
            .outerjoin(Placement, Placement.id == per.c.placement_id)
            .group_by(name, kind)
        ).all()
        places = [(str(p), str(k), int(n)) for p, k, n in rows]
        if ages["unmatched"]:
            places.append(("(unmatched)", "(unmatched)", ages["unmatched"]))
        # Ordered here, not by the database: collations order "(no placement)" differently.
        return ages, sorted(places, key=most_first)

    def _clock(self) -> tuple[list[int], list[int]]:
        ep = self.ep
        hour = self.st.hour(ep.c.local).label("hour")
        dow = self.st.isodow(ep.c.local).label("dow")
        rows = self.conn.execute(select(hour, dow, func.count()).group_by(hour, dow)).all()
        hours, days = [0] * 24, [0] * 7
        for h, d, n in rows:
            hours[int(h)] += int(n)
            days[int(d) - 1] += int(n)
        return hours, days

    def _months(self) -> dict[str, int]:
        ep = self.ep
        month = (ep.c.ymd // 100).label("month")  # YYYYMM
        rows = self.conn.execute(select(month, func.count()).group_by(month))
        return {f"{int(m) // 100:04d}-{int(m) % 100:02d}": int(n) for m, n in rows}

    def _interviews(self) -> tuple[Interviews, int]:
        """The interviews by status and deadline, and how many give a reason: one pass."""
        ep = self.ep
        iv = Interview
        completed = iv.status == "completed"
        dated = and_(completed, iv.held_on.is_not(None))
        deadline = self.st.day(self.st.local_seconds(iv.due_at))
        in_time = and_(dated, self.st.date_day(iv.held_on) <= deadline)
        waiting = iv.status.in_(("due", "offered", "accepted"))
        counts = [_count_if(iv.status == s) for s in INTERVIEW_STATUSES]
        row = self.conn.execute(
            select(
                func.count(),
                *counts,
                _count_if(in_time),
                _count_if(dated),
                _count_if(and_(completed, iv.held_on.is_(None))),
                _count_if(and_(waiting, iv.due_at <= self.now)),
                _count_if(func.json_array_length(iv.reason_codes) > 0),
            )
            .select_from(ep)
            .join(iv, ep.c.id == iv.episode_id)
        ).one()
        owed, *rest = (int(x) for x in row)
        by_status = dict(zip(INTERVIEW_STATUSES, rest[:5], strict=True))
        interviews = Interviews(
            owed=owed,
            by_status=by_status,
            offered=owed - by_status["due"],
            completed_in_time=rest[5],
            completed_late=rest[6] - rest[5],
            completed_undated=rest[7],
            overdue_open=rest[8],
        )
        return interviews, rest[9]

    def _reasons(self) -> list[tuple[str, int]]:
        ep = self.ep
        if self.st.postgres:
            codes = func.json_array_elements_text(Interview.reason_codes).table_valued("value")
        else:
            codes = func.json_each(Interview.reason_codes).table_valued("value")
        code = cast(codes.c.value, String).label("code")
        # One row per code cited: an outcome's codes are recorded once each (match_reason_codes).
        rows = self.conn.execute(
            select(code, func.count())
            .select_from(ep)
            .join(Interview, ep.c.id == Interview.episode_id)
            .join(codes, true())
            .group_by(code)
        ).all()
        return sorted(((str(c), int(n)) for c, n in rows), key=most_first)

    def _acks(self) -> list[AckRole]:
        ep, k = self.ep, ACKED
        alerted = self.conn.execute(
            select(Alert.role, func.count(distinct(Alert.episode_id)))
            .join(ep, ep.c.id == Alert.episode_id)
            .where(Alert.role.in_(ACK_ROLES))
            .group_by(Alert.role)
        ).all()
        rows = self.conn.execute(select(k.c.role, func.count()).group_by(k.c.role)).all()
        acked: dict[str, int] = {str(r): int(n) for r, n in rows}
        out = []
        for role, n in sorted(alerted):
            done = acked.get(str(role), 0)
            spread = _spread(percentiles(self.conn, k.c.wait, k.c.role == role, done))
            out.append(AckRole(str(role), int(n), done, spread))
        return out

    def _escalations(self) -> tuple[dict[str, int], int]:
        ep = self.ep
        done = and_(DueAction.status == "done", DueAction.kind.in_(ESCALATIONS))
        kinds = list(ESCALATIONS)
        row = self.conn.execute(
            select(
                *(_count_if(DueAction.kind == kind) for kind in kinds),
                func.count(distinct(DueAction.episode_id)),
            )
            .select_from(ep)
            .join(DueAction, ep.c.id == DueAction.episode_id)
            .where(done)
        ).one()
        *by_kind, escalated = (int(x) for x in row)
        return {ESCALATIONS[kind]: n for kind, n in zip(kinds, by_kind, strict=True)}, escalated
