"""The SSDA903 Missing table: hand-built episodes in, exact CSV out, every rule caught.

The rules are checked on plain rows (each on its own) and through `mailbridge export ssda903`
on both databases (several at once, nothing written). Times are UTC in the store and dates in
Europe/London in the return, so the boundary cases sit either side of local midnight in BST
and in GMT.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailbridge.errors import MailbridgeError
from mailbridge.reports.ssda903 import (
    CollectionYear,
    MissingRow,
    Violation,
    parse_year,
    render_csv,
    validate,
)
from mailbridge.store.models import Child, Episode
from tests.conftest import CliRunner, plain_cli

LONDON = ZoneInfo("Europe/London")
Y2026 = CollectionYear(2026)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]


# -- the store, by hand ---------------------------------------------------------------------


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.n = 0

    def child(self, child_id: str, dob: date | None) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(
                Child(
                    child_id=child_id,
                    first_name="Test",
                    last_name=f"Child{child_id}",
                    date_of_birth=dob,
                    carer_emails=[],
                    attributes={},
                    updated_at=NOW,
                )
            )

    def episode(
        self,
        child_id: str | None,
        start: datetime,
        end: datetime | None = None,
        *,
        code: str = "M",
        seen: bool = True,
    ) -> str:
        """An episode starting at ``start``: last seen then (or, with seen=False, opened then)."""
        self.n += 1
        ref = f"MB-2026-{self.n:05d}"
        with Session(self.engine) as s, s.begin():
            s.add(
                Episode(
                    reference=ref,
                    child_id=child_id,
                    status="returned" if end else "open",
                    opened_at=start + timedelta(hours=1) if seen else start,
                    last_seen_at=start if seen else None,
                    returned_at=end,
                    sender_known=True,
                    allocations={},
                    absence_type=code,
                    updated_at=NOW,
                )
            )
        return ref


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def cli(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> CliRunner:
    return plain_cli(database_url, tmp_path, monkeypatch, capsys)


# -- the CSV --------------------------------------------------------------------------------


def test_the_year_as_exact_csv_on_stdout_and_in_a_file(
    store: Store, cli: CliRunner, tmp_path: Path
) -> None:
    code, out, err = cli("export", "ssda903", "--year", "2026")
    assert (code, out) == (0, "CHILD,DOB,MISSING,MIS_START,MIS_END\n")  # an empty year
    assert "0 episode(s)" in err

    store.child("100231", date(2011, 3, 14))
    store.child("100232", date(2009, 7, 2))
    store.episode("100231", utc(2026, 5, 10, 21, 0), utc(2026, 5, 11, 8, 0))
    # Opened (no last-seen time) on a winter evening and back before midnight.
    store.episode("100231", utc(2026, 12, 1, 19, 0), utc(2026, 12, 1, 23, 30), code="A", seen=False)
    store.episode("100232", utc(2027, 1, 15, 16, 45))  # still open: MIS_END blank
    store.episode("100232", utc(2025, 6, 1, 10, 0), utc(2025, 6, 2, 10, 0))  # 2025-26: not here
    store.episode("100232", utc(2027, 4, 2, 10, 0))  # 2027-28: not here
    # Last seen on 30 March, reported in April: the start is the sighting, so 2025-26.
    store.episode("100232", utc(2026, 3, 30, 20, 0), utc(2026, 4, 2, 9, 0))
    expected = (
        "CHILD,DOB,MISSING,MIS_START,MIS_END\n"
        "100231,14/03/2011,M,10/05/2026,11/05/2026\n"
        "100231,14/03/2011,A,01/12/2026,01/12/2026\n"
        "100232,02/07/2009,M,15/01/2027,\n"
    )

    code, out, err = cli("export", "ssda903", "--year", "2026")
    assert code == 0, err
    assert out == expected
    assert "2026-27" in err and "01/04/2026 to 31/03/2027" in err

    target = tmp_path / "missing.csv"
    target.write_text("an older export\n", encoding="utf-8")
    code, out, err = cli("export", "ssda903", "--year", "2026-27", "--out", str(target))
    assert code == 0, err
    assert out == ""
    assert target.read_bytes() == expected.encode()
    assert target.stat().st_mode & 0o777 == 0o600  # children's personal data
    assert f"wrote 3 episode(s) to {target}" in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".missing")) == []


def test_year_boundaries_at_local_midnight_in_bst_and_gmt(store: Store, cli: CliRunner) -> None:
    for child_id in ("1", "2", "3", "4", "5", "6"):
        store.child(child_id, date(2010, 1, 1))
    # 31 March 2026 23:30 BST (22:30 UTC): the last day of 2025-26.
    store.episode("1", utc(2026, 3, 31, 22, 30), utc(2026, 4, 1, 9, 0))
    # 1 April 2026 00:30 BST (31 March 23:30 UTC): the first day of 2026-27.
    store.episode("2", utc(2026, 3, 31, 23, 30), utc(2026, 4, 1, 9, 0))
    # 1 July 2026 00:30 BST is 30 June 23:30 UTC; 1 November 00:30 GMT is 00:30 UTC.
    store.episode("3", utc(2026, 6, 30, 23, 30), utc(2026, 10, 31, 23, 30), code="A")
    # 31 March 2027 23:30 BST (BST began 28 March): still 2026-27, and back after the year end.
    store.episode("4", utc(2027, 3, 31, 22, 30), utc(2027, 3, 31, 23, 15))
    # 1 April 2027 00:15 BST: 2027-28.
    store.episode("5", utc(2027, 3, 31, 23, 15))
    # 1 January 2027 00:10 GMT: local and UTC dates agree in winter.
    store.episode("6", utc(2027, 1, 1, 0, 10), utc(2027, 1, 1, 23, 59))

    code, out, err = cli("export", "ssda903", "--year", "2026")
    assert code == 0, err
    assert out.splitlines()[1:] == [
        "2,01/01/2010,M,01/04/2026,01/04/2026",
        "3,01/01/2010,A,01/07/2026,31/10/2026",
        # ended 1 April 2027 00:15 BST, after the year: blank, as at 31 March still missing
        "4,01/01/2010,M,31/03/2027,",
        "6,01/01/2010,M,01/01/2027,01/01/2027",
    ]
    code, out, err = cli("export", "ssda903", "--year", "2025-26")
    assert code == 0, err
    # it started on the last day of 2025-26 and ended on the first day of the next year
    assert out.splitlines()[1:] == ["1,01/01/2010,M,31/03/2026,"]
    code, out, err = cli("export", "ssda903", "--year", "2027")
    assert code == 0, err
    assert out.splitlines()[1:] == ["5,01/01/2010,M,01/04/2027,"]


# -- violations through the CLI -------------------------------------------------------------


def test_every_violation_is_reported_and_nothing_is_written(
    store: Store, cli: CliRunner, tmp_path: Path
) -> None:
    store.child("100231", date(2011, 3, 14))
    store.child("100233", None)
    store.child("100234", date(2026, 6, 1))
    ok = store.episode("100231", utc(2026, 5, 1, 10, 0), utc(2026, 5, 1, 20, 0))
    unmatched = store.episode(None, utc(2026, 5, 2, 10, 0))
    no_dob = store.episode("100233", utc(2026, 5, 3, 10, 0), utc(2026, 5, 3, 12, 0))
    unborn = store.episode("100234", utc(2026, 5, 4, 10, 0), utc(2026, 5, 4, 12, 0))
    open_one = store.episode("100231", utc(2026, 8, 1, 10, 0))
    later = store.episode("100231", utc(2026, 9, 1, 10, 0), utc(2026, 9, 2, 10, 0))
    no_code = store.episode("100231", utc(2027, 2, 1, 10, 0), utc(2027, 2, 1, 12, 0), code="")
    target = tmp_path / "return.csv"
    target.write_text("last month's good file\n", encoding="utf-8")

    code, out, err = cli("export", "ssda903", "--year", "2026", "--out", str(target))

    assert code == 1
    assert out == ""
    assert target.read_text(encoding="utf-8") == "last month's good file\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".return")] == []
    lines = err.splitlines()
    assert f"{unmatched} (child UNMATCHED): no child:" in err
    assert f"{no_dob} (child 100233): no date of birth:" in err
    assert f"{unborn} (child 100234): before birth: MIS_START 04/05/2026" in err
    assert f"{open_one} (child 100231): overlap: overlaps {later}" in err
    assert f"{open_one} (child 100231): overlap: overlaps {no_code}" in err  # open: for ever
    assert f"{no_code} (child 100231): start without code:" in err
    assert not any(ok in line for line in lines)
    assert "6 problem(s) in 7 episode(s)" in err
    assert "no file written" in lines[-1]

    code, out, _err = cli("export", "ssda903", "--year", "2026")
    assert (code, out) == (1, "")

    code, out, err = cli("export", "ssda903", "--year", "2026-28")
    assert (code, out) == (1, "")
    assert "--year" in err and "2026-28" in err


# -- the rules, each on its own -------------------------------------------------------------


GOOD: dict[str, Any] = {
    "reference": "MB-2026-00001",
    "child_id": "100231",
    "dob": date(2011, 3, 14),
    "code": "M",
    "start": utc(2026, 6, 1, 10, 0),
    "end": utc(2026, 6, 2, 10, 0),
}


def row(reference: str = "MB-2026-00001", **changes: Any) -> MissingRow:
    return MissingRow.at(LONDON, **{**GOOD, "reference": reference, **changes})


def rules(*rows: MissingRow) -> list[tuple[str, str]]:
    found: list[Violation] = validate(list(rows), Y2026)
    for v in found:
        assert v.reference in str(v) and (v.child_id or "UNMATCHED") in str(v)
    return [(v.reference, v.rule) for v in found]


def test_a_good_row_breaks_no_rule() -> None:
    assert rules(row(), row("MB-2026-00002", start=utc(2026, 6, 2, 10, 0), end=None)) == []


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        (row(code=None), "start without code"),
        (row(code="X"), "start without code"),
        (row(start=None, end=None), "code without start"),
        (row(code=None, start=None), "end without start"),
        (row(start=utc(2026, 3, 31, 22, 59)), "start outside the year"),
        (row(start=utc(2027, 3, 31, 23, 0), end=None), "start outside the year"),
        (row(end=utc(2026, 6, 1, 9, 0)), "end before start"),
        (row(child_id=None), "no child"),
        (row(dob=None), "no date of birth"),
        (row(dob=date(2026, 6, 2)), "before birth"),
    ],
)
def test_each_rule_is_caught_on_its_own(bad: MissingRow, rule: str) -> None:
    assert rules(bad) == [(bad.reference, rule)]


def test_the_last_local_day_and_an_episode_born_that_day_are_fine() -> None:
    # 31 March 2027 23:59 BST, and a start on the day of birth
    assert rules(row(start=utc(2027, 3, 31, 22, 59), end=None, dob=date(2027, 3, 31))) == []


def test_overlaps_closed_open_and_back_to_back() -> None:
    first = row("MB-2026-00001", start=utc(2026, 6, 1, 10, 0), end=utc(2026, 6, 3, 10, 0))
    inside = row("MB-2026-00002", start=utc(2026, 6, 2, 10, 0), end=utc(2026, 6, 2, 12, 0))
    assert rules(first, inside) == [("MB-2026-00001", "overlap")]
    # Back the same day and gone again that evening is two episodes, not an overlap.
    again = row("MB-2026-00003", start=utc(2026, 6, 3, 10, 0), end=None)
    assert rules(first, again) == []
    # An open episode overlaps every later one of the same child, and no other child's.
    still_open = row("MB-2026-00004", start=utc(2026, 5, 1, 10, 0), end=None)
    other = row("MB-2026-00005", child_id="100232", start=utc(2026, 6, 1, 10, 0))
    assert sorted(rules(still_open, first, again, other)) == [
        ("MB-2026-00004", "overlap"),
        ("MB-2026-00004", "overlap"),
    ]


def test_end_after_the_year_is_blank_not_a_violation() -> None:
    late = row(start=utc(2027, 3, 20, 10, 0), end=utc(2027, 4, 2, 10, 0))
    assert rules(late) == []
    assert render_csv([late], Y2026).splitlines()[1] == "100231,14/03/2011,M,20/03/2027,"


# -- the year ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2026", "2026-27", "2026/27", "2026-2027", " 2026 - 27 "])
def test_parse_year(text: str) -> None:
    year = parse_year(text)
    assert (year.first_day, year.last_day, year.label) == (
        date(2026, 4, 1),
        date(2027, 3, 31),
        "2026-27",
    )


@pytest.mark.parametrize("text", ["2026-28", "26", "26-27", "twenty", "", "2026-2026", "1999"])
def test_parse_year_refuses(text: str) -> None:
    with pytest.raises(MailbridgeError, match="--year"):
        parse_year(text)


def test_bounds_are_local_midnights() -> None:
    lo, hi = Y2026.bounds(LONDON)
    assert lo.astimezone(UTC) == utc(2026, 3, 31, 23, 0)  # BST
    assert hi.astimezone(UTC) == utc(2027, 3, 31, 23, 0)  # BST again from 28 March 2027
    assert CollectionYear(2026).bounds(ZoneInfo("UTC"))[0] == utc(2026, 4, 1)
