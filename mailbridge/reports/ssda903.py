"""The SSDA903 return's Missing table: episodes of one collection year, checked, as CSV.

The Department for Education's SSDA903 return has one row per episode in which a looked-after
child was missing (M) or away from placement without authorisation (A):
``CHILD,DOB,MISSING,MIS_START,MIS_END``, dates as dd/mm/yyyy. The collection year runs from
1 April to 31 March; ``--year 2026`` (or ``2026-27``) is 1 April 2026 to 31 March 2027.

An episode belongs to the year its start falls in: when the child was last seen, else when the
episode was opened, as a date in the service's zone. The rows are selected in SQL; the checks
(`validate`) are pure, so each rule is tested on its own. By default the rows that pass are
written and every episode left out is listed with its reason (`split_valid`, `render_excluded`),
so one unmatched episode no longer holds up the year's return; ``--strict`` writes nothing if
any row fails. Void episodes (docs/casework.md) are not in the return at all. See
docs/ssda903.md.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from mailbridge.errors import InvalidRequestError
from mailbridge.store import reports as report_store
from mailbridge.store import tx

__all__ = [
    "COLUMNS",
    "CollectionYear",
    "MissingRow",
    "Violation",
    "load_rows",
    "parse_year",
    "render_csv",
    "render_excluded",
    "split_valid",
    "validate",
    "write_atomic",
]

COLUMNS = ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END")
CODES = frozenset({"M", "A"})


@dataclass(frozen=True)
class CollectionYear:
    """1 April ``start_year`` to 31 March the year after, both days included."""

    start_year: int

    @property
    def first_day(self) -> date:
        return date(self.start_year, 4, 1)

    @property
    def last_day(self) -> date:
        return date(self.start_year + 1, 3, 31)

    @property
    def label(self) -> str:
        return f"{self.start_year}-{(self.start_year + 1) % 100:02d}"

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[local midnight of 1 April, local midnight of the next 1 April): aware datetimes."""
        return (
            datetime.combine(self.first_day, time(), tzinfo=tz),
            datetime.combine(self.last_day + timedelta(days=1), time(), tzinfo=tz),
        )

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first_day <= day <= self.last_day


_YEAR = re.compile(r"^\s*(\d{4})(?:\s*[-/]\s*(\d{2}|\d{4}))?\s*$")


def parse_year(value: str) -> CollectionYear:
    """``2026`` or ``2026-27`` (also ``2026/27``, ``2026-2027``): the year from 1 April 2026."""
    m = _YEAR.match(value)
    if m:
        first = int(m.group(1))
        second = m.group(2)
        if 2000 <= first <= 2999 and (
            second is None or int(second) in (first + 1, (first + 1) % 100)
        ):
            return CollectionYear(first)
    raise InvalidRequestError(
        f"--year: not a collection year: {value!r} (e.g. 2026 or 2026-27 for "
        "1 April 2026 to 31 March 2027)"
    )


@dataclass(frozen=True, slots=True)
class MissingRow:
    """One episode as the return sees it: aware times (UTC from the store), and their dates in
    the service's zone, worked out once (`at`), because 100,000 rows are checked and written."""

    reference: str
    child_id: str | None
    dob: date | None
    code: str | None
    start: datetime | None
    end: datetime | None
    start_day: date | None
    end_day: date | None

    @classmethod
    def at(
        cls,
        tz: ZoneInfo,
        *,
        reference: str,
        child_id: str | None,
        dob: date | None,
        code: str | None,
        start: datetime | None,
        end: datetime | None,
    ) -> MissingRow:
        return cls(
            reference,
            child_id,
            dob,
            code,
            start,
            end,
            start.astimezone(tz).date() if start is not None else None,
            end.astimezone(tz).date() if end is not None else None,
        )


@dataclass(frozen=True)
class Violation:
    reference: str
    child_id: str | None
    rule: str
    message: str

    def __str__(self) -> str:
        child = self.child_id or "UNMATCHED"
        return f"{self.reference} (child {child}): {self.rule}: {self.message}"


def load_rows(session: tx.Tx, year: CollectionYear, tz: ZoneInfo) -> list[MissingRow]:
    """The year's episodes in one Core query, ordered by child, start and reference."""
    result = report_store.missing_rows(session, *year.bounds(tz))
    return [
        # An episode still open has no end, whatever a stray return time says.
        MissingRow.at(
            tz,
            reference=ref,
            child_id=child_id,
            dob=dob,
            code=code,
            start=began,
            end=returned if status != "open" else None,
        )
        for ref, child_id, dob, code, began, returned, status in result
    ]


@lru_cache(maxsize=4096)
def _dmy(day: date) -> str:
    """dd/mm/yyyy; a year has few distinct dates, so each is formatted once."""
    return f"{day:%d/%m/%Y}"


def validate(rows: list[MissingRow], year: CollectionYear) -> list[Violation]:
    """Every rule broken by every row (not only the first), in row order."""
    out: list[Violation] = []

    def bad(row: MissingRow, rule: str, message: str) -> None:
        out.append(Violation(row.reference, row.child_id, rule, message))

    by_child: dict[str, list[MissingRow]] = defaultdict(list)
    first_day, last_day = year.first_day, year.last_day
    for row in rows:
        start, end = row.start_day, row.end_day
        if row.child_id is None:
            bad(row, "no child", "the episode is not matched to a child in the directory")
        elif row.dob is None:
            bad(row, "no date of birth", "the child has no date of birth in the directory")
        if row.code not in CODES:
            if start is not None:
                bad(row, "start without code", f"MISSING is {row.code or 'blank'!r}, not M or A")
        elif start is None:
            bad(row, "code without start", f"MISSING is {row.code} but there is no start date")
        if end is not None and start is None:
            bad(row, "end without start", "MIS_END is given but MIS_START is not")
        if start is not None and not first_day <= start <= last_day:
            bad(row, "start outside the year", f"MIS_START {start:%d/%m/%Y} is not in {year.label}")
        if start is not None and end is not None and row.end is not None and row.start is not None:
            if row.end < row.start:
                bad(row, "end before start", f"MIS_END {end:%d/%m/%Y} is before MIS_START")
            elif end < first_day:
                bad(row, "end outside the year", f"MIS_END {end:%d/%m/%Y} is before {year.label}")
        if start is not None and row.dob is not None and start < row.dob:
            bad(
                row,
                "before birth",
                f"MIS_START {start:%d/%m/%Y} is before the date of birth {row.dob:%d/%m/%Y}",
            )
        if row.child_id is not None and row.start is not None:
            by_child[row.child_id].append(row)
    for episodes in by_child.values():
        if len(episodes) > 1:
            out.extend(_overlaps(episodes))
    return out


def _overlaps(episodes: list[MissingRow]) -> list[Violation]:
    """Pairs of one child's episodes that share time; an open episode runs on for ever."""
    found: list[Violation] = []
    ordered = sorted(episodes, key=lambda r: (r.start, r.reference))
    for i, first in enumerate(ordered):
        assert first.start is not None
        for later in ordered[i + 1 :]:
            assert later.start is not None
            if first.end is not None and later.start >= first.end:
                break  # sorted by start: no later episode overlaps ``first`` either
            until = f"ended {first.end_day:%d/%m/%Y}" if first.end_day else "still open"
            found.append(
                Violation(
                    first.reference,
                    first.child_id,
                    "overlap",
                    f"overlaps {later.reference} (started {later.start_day:%d/%m/%Y}; "
                    f"{first.reference} {until})",
                )
            )
    return found


def split_valid(
    rows: list[MissingRow], problems: list[Violation]
) -> tuple[list[MissingRow], list[Violation]]:
    """The rows no rule names, and the problems of the rows left out, in row order.

    Leaving a row out cannot make another fail (overlap is the only rule across rows, and it
    names the earlier episode, which is the one left out).
    """
    bad = {p.reference for p in problems}
    return [r for r in rows if r.reference not in bad], problems


def render_excluded(problems: list[Violation]) -> str:
    """The ``…-excluded.csv`` beside the return: one line per reason an episode was left out."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("reference", "child_id", "rule", "reason"))
    writer.writerows((p.reference, p.child_id or "", p.rule, p.message) for p in problems)
    return buf.getvalue()


def render_csv(rows: list[MissingRow], year: CollectionYear) -> str:
    """The table as CSV text (``\\n`` line ends). Call only on rows that `validate` passed.

    MIS_END is blank for an episode still open and for one that ended after 31 March: as at
    the year end the child was still missing or away.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    last_day = year.last_day
    writer.writerows(
        (
            row.child_id or "",
            _dmy(row.dob) if row.dob else "",
            row.code or "",
            _dmy(row.start_day) if row.start_day else "",
            _dmy(row.end_day) if row.end_day is not None and row.end_day <= last_day else "",
        )
        for row in rows
    )
    return buf.getvalue()


def write_atomic(path: Path, text: str) -> None:
    """Write beside ``path``, fsync, rename over it: a reader sees the old file or the new one."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        try:
            # closefd=False: closing the file object writes its buffer; the fd stays open
            # for the fsync.
            with os.fdopen(fd, "w", encoding="utf-8", newline="", closefd=False) as f:
                f.write(text)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
