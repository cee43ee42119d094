"""Portable SQL expressions over stored UTC times: seconds, and local clock parts in a zone.

A stored time becomes **local seconds**: the Unix seconds of the local wall-clock time (UTC
seconds plus the zone's offset then). Hour, day of the week and day number are integer
arithmetic on that, the same SQL on both databases; the calendar date is one ``strftime`` /
``to_char``. PostgreSQL finds the offset with ``AT TIME ZONE``. SQLite knows no zones, so the
offset is a ``CASE`` over the zone's transition instants between two dates, found here with
``zoneinfo`` and nested as a binary search. Either way the database does the grouping.

Stored times are ``UTCDateTime``: timestamptz on PostgreSQL, UTC text
(``YYYY-MM-DD HH:MM:SS.ffffff``) on SQLite. Times before 1970 are not supported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Integer, String, case, cast, func, literal, text
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from mailbridge.store.models import UTCDateTime

Col = ColumnElement[Any] | InstrumentedAttribute[Any]

# julianday of 1970-01-01T00:00Z: SQLite's day count to Unix seconds.
_UNIX_JULIAN = 2440587.5
DAY_SECONDS = 86400


def transitions(tz: ZoneInfo, first: date, last: date) -> list[tuple[datetime, int]]:
    """The UTC instants in [first, last] at which ``tz`` changes offset, with the new offset.

    The first entry is ``first`` itself with the offset then in force. Days are scanned, then
    each change is narrowed down to the second (zones change offset at most a few times a year).
    """
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(last, time(), UTC) + timedelta(days=1)

    def offset(at: datetime) -> int:
        delta = tz.utcoffset(at.astimezone(tz))
        return int(delta.total_seconds()) if delta is not None else 0

    out = [(start, offset(start))]
    day, before = start, out[0][1]
    while day < end:
        nxt = min(day + timedelta(days=1), end)
        after = offset(nxt)
        if after != before:
            lo, hi = day, nxt  # offset(lo) is the old one, offset(hi) the new one
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if offset(mid) == before:
                    lo = mid
                else:
                    hi = mid
            hi = hi.replace(microsecond=0)
            out.append((hi, offset(hi)))
        day, before = nxt, after
    return out


@dataclass(frozen=True)
class SqlTime:
    """Expressions for one database dialect and one zone, valid for times in [first, last]."""

    dialect: str
    tz: ZoneInfo
    first: date
    last: date
    _steps: list[tuple[datetime, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps = [] if self.postgres else transitions(self.tz, self.first, self.last)
        object.__setattr__(self, "_steps", steps)

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    def seconds(self, col: Col) -> ColumnElement[Any]:
        """Unix seconds of a stored time, as a float: differences give durations."""
        if self.postgres:
            return func.extract("epoch", col)
        return (func.julianday(col) - _UNIX_JULIAN) * 86400.0

    def local_seconds(self, col: Col) -> ColumnElement[Any]:
        """Whole Unix seconds of the local wall-clock time at ``col``, truncated (23:59:59.7
        is still that day and hour; rounding moved it into the next)."""
        if self.postgres:
            local = func.extract("epoch", func.timezone(self.tz.key, col))
            return cast(func.floor(local), BigInteger)
        utc = cast(func.strftime("%s", col), Integer)
        return utc + self._offset(col, 0, len(self._steps))

    def _offset(self, col: Col, lo: int, hi: int) -> ColumnElement[Any]:
        """SQLite: the offset in force at ``col``, among steps[lo:hi], by binary search."""
        if hi - lo == 1:
            return literal(self._steps[lo][1], Integer)
        mid = (lo + hi) // 2
        return case(
            (col < literal(self._steps[mid][0], UTCDateTime()), self._offset(col, lo, mid)),
            else_=self._offset(col, mid, hi),
        )

    # -- parts of local seconds (an integer column or expression) -------------------------

    @staticmethod
    def hour(local: Col) -> ColumnElement[Any]:
        """0-23."""
        return (local % DAY_SECONDS) // 3600

    @staticmethod
    def isodow(local: Col) -> ColumnElement[Any]:
        """1 Monday to 7 Sunday (1 January 1970 was a Thursday)."""
        return (local // DAY_SECONDS + 3) % 7 + 1

    @staticmethod
    def day(local: Col) -> ColumnElement[Any]:
        """Days since 1 January 1970: the local calendar date as a number."""
        return local // DAY_SECONDS

    def _format(self, local: Col, sqlite: str, postgres: str) -> ColumnElement[Any]:
        if self.postgres:
            stamp = func.timezone("UTC", func.to_timestamp(local))
            return func.to_char(stamp, postgres)
        return func.strftime(sqlite, local, text("'unixepoch'"))

    def month(self, local: Col) -> ColumnElement[Any]:
        """``YYYY-MM``."""
        return cast(self._format(local, "%Y-%m", "YYYY-MM"), String)

    def ymd(self, local: Col) -> ColumnElement[Any]:
        """The integer YYYYMMDD (ages are whole differences of these / 10000)."""
        return cast(self._format(local, "%Y%m%d", "YYYYMMDD"), Integer)

    def local_ymd(self, col: Col) -> ColumnElement[Any]:
        """The local date of a stored time as YYYYMMDD: ``ymd(local_seconds(col))``.

        PostgreSQL formats the local time straight from ``AT TIME ZONE``, without the round
        trip through seconds (a third of the cost of filling the report's episodes there).
        """
        if self.postgres:
            return cast(func.to_char(func.timezone(self.tz.key, col), "YYYYMMDD"), Integer)
        return self.ymd(self.local_seconds(col))

    # -- Date columns ---------------------------------------------------------------------

    def date_ymd(self, col: Col) -> ColumnElement[Any]:
        """A ``Date`` column as YYYYMMDD (SQLite stores ``YYYY-MM-DD``: no date parsing)."""
        if self.postgres:
            return cast(func.to_char(col, "YYYYMMDD"), Integer)
        return cast(func.replace(col, "-", ""), Integer)

    def date_day(self, col: Col) -> ColumnElement[Any]:
        """A ``Date`` column as days since 1 January 1970, comparable with ``day()``."""
        if self.postgres:
            return col - func.make_date(1970, 1, 1)
        return cast(func.julianday(col) - _UNIX_JULIAN, Integer)
