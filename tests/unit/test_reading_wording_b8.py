"""Classes of carers' wording the held-out batch 8 showed the reader missing (issue 13).

Rules for a class of wording each, with examples of our own: found somewhere but not back at
the placement yet, "still isn't answering" beside another child's return, a place's name with
"'s Home" in it, "10 mins ago", "isn't answering", "she's not in", text-speak, Irish English "is
after coming home", nobody currently missing, a corrected time, a day-part word before the clock,
a long sentence cut in the middle of a date, and a name after "with" in a clause about another
child.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbridge.reading.fields import read_when
from tests.support.wording import each, read


@pytest.mark.parametrize("body", [
    "Dana turned up at my sister's about 11, she's fine. She's staying at ours tonight and I'll "
    "bring her back in the morning.",
    "Police found Dana in town at 10 and have her at the station, I'm on my way to collect her.",
])
def test_found_but_not_back_at_the_placement_is_a_doubt(body: str) -> None:
    fields, cls = read(body, sent="Thu, 07 Jan 2027 23:50:00 +0000")
    assert cls.kind == "missing" and cls.doubts
    assert fields.returned_at is None


def test_still_isnt_answering_beside_a_return() -> None:
    body = "Priya came home at half ten, she's fine. Dana still isn't answering her phone."
    assert read(body)[1].kind == "missing"
    assert each(body) == {"13": "returned", "11": "missing"}


def test_a_homes_name_is_not_a_return() -> None:
    _fields, cls = read("Dana went missing from school at lunchtime (12.30).\n\nThanks\nJo\n"
                        "Oak House Children's Home", sent="Thu, 07 Jan 2027 14:10:00 +0000")
    assert cls.kind == "missing"
    assert _fields.last_seen_at == datetime(2027, 1, 7, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(("text", "minutes"), [("ran off 10 mins ago", 10),
                                               ("walked out about an hour ago", 60),
                                               ("left half an hour ago", 30)])
def test_a_time_ago_is_before_the_email(text: str, minutes: int) -> None:
    base = datetime(2027, 1, 7, 16, 47, tzinfo=UTC)
    assert read_when(text, base)[0] == base - timedelta(minutes=minutes)


def test_days_ago_is_history_but_minutes_ago_is_news() -> None:
    assert read("Dana ran off 10 mins ago after a row.")[1].kind == "missing"
    assert read("Dana ran off three weeks ago but has been fine since.")[1].kind != "missing"


@pytest.mark.parametrize("body", [
    "Dana isn't answering calls and hasn't come in from the park.",
    "School rang to say she's not in and her phone is off.",
    "shes not bk, tried her fone loads",
])
def test_more_ways_of_saying_still_out(body: str) -> None:
    assert read(body)[1].kind == "missing"


def test_if_shes_not_back_is_still_a_plan() -> None:
    assert read("Dana is late back. If she's not back by 10 I'll ring the police.")[1].kind \
        != "missing"


def test_irish_english_is_after_coming_home() -> None:
    fields, cls = read("Dana's after coming home, the guards dropped her back at ten past 11. "
                       "She's grand, not a mark on her.", sent="Thu, 07 Jan 2027 23:40:00 +0000")
    assert cls.kind == "returned" and fields.safe_and_well is True


def test_a_summary_where_nobody_is_currently_missing_is_no_report() -> None:
    _fields, cls = read("Our missing from care summary for December:\nDana - 2 episodes (3rd "
                        "and 17th), both returned the same night.\nPriya - none.\nNo one is "
                        "currently missing.", subject="December missing summary")
    assert cls.kind not in ("missing", "returned")


def test_a_corrected_time_is_the_time() -> None:
    fields, _cls = read("Correction: Dana was last seen at 7.30, not 5.30. I was looking at last "
                        "week's times. Still not home.")
    assert fields.last_seen_at == datetime(2027, 1, 7, 19, 30, tzinfo=UTC)


def test_a_long_sentence_cut_in_a_date_is_not_another_year() -> None:
    long = ("Dana had a row on the bus and was in a mood all through tea " * 6 +
            "and then about twenty past seven she went to the shop and she's not come back "
            "since, I rang the police at half nine and they gave me log 1544 of 07/01/2027.")
    fields, _cls = read(long)
    assert fields.last_seen_at is not None and fields.last_seen_at.year == 2027


def test_a_name_after_with_in_a_clause_about_another_child_is_not_theirs() -> None:
    assert each("Marcus came in at 8 and seemed fine. But he's gone out again about 9.15 while "
                "I was upstairs with Priya. He's not answering.") == {"12": "missing"}
