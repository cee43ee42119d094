"""Dates of birth in the directory CSV: ISO and UK day-first (what Excel saves in en-GB) are
taken; an impossible, two-digit-year or ambiguous date is refused with its line and the reason."""

from __future__ import annotations

from datetime import date

import pytest

from mailbridge.directory.csv_file import parse_birth_date, parse_csv
from mailbridge.directory.records import RowError

TODAY = date(2026, 11, 26)
HEADER = (
    "child_id,first_name,last_name,date_of_birth,placement_name,carer_emails,"
    "social_worker_name,social_worker_email,iro_name,iro_email,team_manager_email\n"
)


def row(child_id: str, dob: str) -> str:
    return (
        f"{child_id},Jordan,Carter,{dob},Oakview House,oakview@homes.example,Sam Patel,"
        "sam.patel@council.example,Ruth Okafor,ruth.okafor@council.example,"
        "tm.north@council.example\n"
    )


@pytest.mark.parametrize(
    ("text", "day_first", "expected"),
    [
        ("2012-03-14", False, date(2012, 3, 14)),
        ("14/03/2012", False, date(2012, 3, 14)),  # en-GB Excel: the day is above 12
        ("14.03.2012", False, date(2012, 3, 14)),
        ("14-03-2012", False, date(2012, 3, 14)),
        ("4/3/2012", True, date(2012, 3, 4)),  # the file shows it is day-first
        ("03/04/2012", True, date(2012, 4, 3)),
        ("05/05/2012", False, date(2012, 5, 5)),  # either way round, the same day
        (" 2012-03-14 ", False, date(2012, 3, 14)),
        ("29/02/2012", False, date(2012, 2, 29)),  # a leap year
    ],
)
def test_iso_and_uk_day_first_dates_are_taken(text: str, day_first: bool, expected: date):
    assert parse_birth_date(text, day_first=day_first, today=TODAY) == (expected, None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("31/02/2012", "is not a real date"),
        ("29/02/2013", "is not a real date"),
        ("2012-02-30", "is not a real date"),
        ("14/13/2012", "is not a real date"),
        ("03/04/12", "has a two-digit year: write the year in full, or use YYYY-MM-DD"),
        ("14/03/12", "has a two-digit year: write the year in full, or use YYYY-MM-DD"),
        (
            "03/04/2012",
            "is ambiguous (3 April or 4 March?; no date in the file has a day above 12): "
            "write it as YYYY-MM-DD",
        ),
        ("03/14/2012", "is not a real date"),  # a US date: month 14
        ("14 March 2012", "is not a date in YYYY-MM-DD or DD/MM/YYYY form"),
        ("2012/03/14", "is not a date in YYYY-MM-DD or DD/MM/YYYY form"),
        ("14/03/2027", "is in the future"),
    ],
)
def test_impossible_two_digit_and_ambiguous_dates_are_refused_with_a_reason(text: str, reason: str):
    assert parse_birth_date(text, today=TODAY) == (None, reason)


def test_a_file_of_en_gb_dates_is_read_day_first_and_refusals_name_line_and_reason():
    parsed = parse_csv(
        HEADER
        + row("100001", "14/03/2012")  # line 2: a day above 12 shows the file is day-first
        + row("100002", "03/04/2011")  # line 3: then 3 April 2011, not ambiguous
        + row("100003", "31/02/2012")  # line 4
        + row("100004", "03/04/12")  # line 5
        + row("100005", "2010-07-01")  # line 6: ISO beside UK
    )
    dobs = {r.child_id: r.date_of_birth for r in parsed.rows}
    assert dobs == {
        "100001": date(2012, 3, 14),
        "100002": date(2011, 4, 3),
        "100005": date(2010, 7, 1),
    }
    assert parsed.errors == (
        RowError(4, "date_of_birth '31/02/2012' is not a real date"),
        RowError(
            5,
            "date_of_birth '03/04/12' has a two-digit year: write the year in full, "
            "or use YYYY-MM-DD",
        ),
    )


def test_without_a_day_above_12_an_ambiguous_date_is_refused_on_its_line():
    parsed = parse_csv(HEADER + row("100001", "2012-03-14") + row("100002", "03/04/2011"))
    assert [r.child_id for r in parsed.rows] == ["100001"]
    assert parsed.errors == (
        RowError(
            3,
            "date_of_birth '03/04/2011' is ambiguous (3 April or 4 March?; no date in the file "
            "has a day above 12): write it as YYYY-MM-DD",
        ),
    )


def test_a_us_export_is_not_taken_as_day_first():
    # 03/14/2011 has a month above 12 read day-first: the file is not plainly en-GB, so
    # 04/05/2010 stays ambiguous rather than being guessed.
    parsed = parse_csv(
        HEADER
        + row("100001", "25/12/2012")
        + row("100002", "03/14/2011")
        + row("100003", "04/05/2010")
    )
    assert [r.child_id for r in parsed.rows] == ["100001"]
    assert [(e.line, e.reason.split(" is ")[1][:9]) for e in parsed.errors] == [
        (3, "not a rea"),
        (4, "ambiguous"),
    ]
