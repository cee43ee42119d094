"""Portable SQL expressions over stored UTC times: seconds, and local clock parts in a zone.

PostgreSQL converts with ``AT TIME ZONE``. SQLite knows no zones, so the offset is a ``CASE``
over the zone's transition instants between two dates, found here with ``zoneinfo``. Either
way the figures are computed by the database (GROUP BY on the local hour, day, month), not by
Python over rows. Stored times are ``UTCDateTime``: timestamptz on PostgreSQL, UTC text
(``YYYY-MM-DD HH:MM:SS.ffffff``) on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, String, case, cast, func, literal
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from mailbridge.models import UTCDateTime

Col = ColumnElement[Any] | InstrumentedAttribute[Any]

# julianday of 1970-01-01T00:00Z: SQLite's day count to Unix seconds.
_UNIX_JULIAN = 2440587.5


def transitions(tz: ZoneInfo, first: date, last: date) -> list[tuple[datetime, int]]:
    """The UTC instants in [first, last] at which ``tz`` changes offset, with the new offset.

    The first entry is ``first`` itself with the offset then in force. Days are scanned, then
    each change is narrowed down to the second (zones change offset at most a few times a year).
    """
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(last, time(), UTC) + timedelta(days=1)

    def offset(at: datetime) -> int:
        delta = at.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    out = [(start, offset(start))]
    day = start
    while day < end:
        nxt = min(day + timedelta(days=1), end)
        if offset(nxt) != offset(day):
            lo, hi = day, nxt  # offset(lo) is the old one, offset(hi) the new one
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if offset(mid) == offset(lo):
                    lo = mid
                else:
                    hi = mid
            hi = hi.replace(microsecond=0)
            out.append((hi, offset(hi)))
        day = nxt
    return out


@dataclass(frozen=True)
class SqlTime:
    """Expressions for one database dialect and one zone, valid for times in [first, last]."""

    dialect: str
    tz: ZoneInfo
    first: date
    last: date

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    def seconds(self, col: Col) -> ColumnElement[Any]:
        """Unix seconds of a stored time, as a float: differences give durations."""
        if self.postgres:
            return func.extract("epoch", col)
        return (func.julianday(col) - _UNIX_JULIAN) * 86400.0

    def _local(self, col: Col) -> ColumnElement[Any]:
        """SQLite: the local wall time as text, UTC shifted by the offset in force at ``col``."""
        steps = transitions(self.tz, self.first, self.last)
        if len(steps) == 1:
            return func.datetime(col, f"{steps[0][1]:+d} seconds")
        shift = case(
            *(
                (col < literal(at, UTCDateTime()), f"{before:+d} seconds")
                for (at, _), (_, before) in zip(steps[1:], steps, strict=False)
            ),
            else_=f"{steps[-1][1]:+d} seconds",
        )
        return func.datetime(col, shift)

    def _pg_local(self, col: Col) -> ColumnElement[Any]:
        return func.timezone(self.tz.key, col)

    def hour(self, col: Col) -> ColumnElement[Any]:
        """Local hour, 0-23."""
        if self.postgres:
            return cast(func.extract("hour", self._pg_local(col)), Integer)
        return cast(func.strftime("%H", self._local(col)), Integer)

    def isodow(self, col: Col) -> ColumnElement[Any]:
        """Local day of the week, 1 Monday to 7 Sunday."""
        if self.postgres:
            return cast(func.extract("isodow", self._pg_local(col)), Integer)
        return (cast(func.strftime("%w", self._local(col)), Integer) + 6) % 7 + 1

    def month(self, col: Col) -> ColumnElement[Any]:
        """Local month as ``YYYY-MM``."""
        if self.postgres:
            return func.to_char(self._pg_local(col), "YYYY-MM")
        return cast(func.strftime("%Y-%m", self._local(col)), String)

    def ymd(self, col: Col) -> ColumnElement[Any]:
        """Local date as the integer YYYYMMDD (ages are whole differences of these / 10000)."""
        if self.postgres:
            return cast(func.to_char(self._pg_local(col), "YYYYMMDD"), Integer)
        return cast(func.strftime("%Y%m%d", self._local(col)), Integer)

    def local_date(self, col: Col) -> ColumnElement[Any]:
        """Local calendar date, comparable with a ``Date`` column on the same database."""
        if self.postgres:
            return cast(self._pg_local(col), Date)
        return func.date(self._local(col), type_=Date)

    def date_ymd(self, col: Col) -> ColumnElement[Any]:
        """A ``Date`` column as YYYYMMDD."""
        if self.postgres:
            return cast(func.to_char(col, "YYYYMMDD"), Integer)
        return cast(func.strftime("%Y%m%d", col), Integer)
