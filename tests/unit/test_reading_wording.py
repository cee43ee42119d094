"""Classes of carers' wording the held-out batch 4 showed the reader missing (issue 13).

Each test is a rule written for a class of wording, with examples of our own (not the held-out
reports' text): what a clause asserts, when a return is only a doubt, which time is the return
time, "tonight" after midnight, safe and well in plain words, and several children in one line
of phone-typed text.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbridge.directory.records import ChildRecord
from mailbridge.reading import extract_fields, find_police_reference, read_message
from mailbridge.reading.children import read_each_child
from mailbridge.reading.fields import read_when
from tests.support.wording import HOME, LONDON, MARCUS, PRIYA, each, read

# -- what a clause asserts -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "Dana's not come home and isn't picking up.",
        "She's not come in from college, no word from her.",
        "We haven't seen or heard from her since lunch.",
        "Staff have not spoken to or seen him all evening.",
        "dana gone again out the window about 9 will ring police",
        "Dana gone AWOL after tea.",
    ],
)
def test_still_missing_wording(body: str) -> None:
    assert read(body)[1].kind == "missing"


@pytest.mark.parametrize(
    "body",
    [
        "Dana back at 23:10, tired but safe and well.",
        "Dana back around half 11, went straight to bed.",
        "Police dropped her back at quarter to one.",
        "She was conveyed back to the home by officers.",
        "Officers found her in town and she was brought back, arriving 01:15.",
    ],
)
def test_plain_returns(body: str) -> None:
    assert read(body, sent="Fri, 08 Jan 2027 02:00:00 +0000")[1].kind == "returned"


@pytest.mark.parametrize(
    "body",
    [
        "She went out the back at 8 and has not been seen since.",
        "She is due back at 11.",
        "Dana will be back at 10 she says.",
    ],
)
def test_back_at_a_time_that_is_not_a_return(body: str) -> None:
    assert read(body)[1].kind != "returned"


def test_a_chore_left_undone_is_not_a_child_missing() -> None:
    _fields, cls = read("Quiet shift. Sorry, didn't get the washing done.", subject="Shift notes")
    assert cls.kind == "not_a_report"


@pytest.mark.parametrize(
    "body",
    [
        "I think Dana might be back, her light is on but her door is locked.",
        "She may have come in while I was on the phone, checking now.",
        "Dana could have returned through the side gate, not seen her yet.",
    ],
)
def test_a_hedged_return_is_a_doubt_and_never_closes(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "missing"
    assert cls.doubts


# -- a return with a doubt is the safe state ------------------------------------------------


def test_a_return_time_after_the_email_keeps_the_child_missing_with_a_doubt() -> None:
    fields, cls = read("Dana got back at 7.40 this morning, a taxi dropped her.",
                       sent="Fri, 08 Jan 2027 05:10:00 +0000")
    assert fields.returned_at is None
    assert cls.kind == "missing"
    assert cls.doubts


def test_a_sure_return_still_closes() -> None:
    fields, cls = read("Dana came back at 4.40 this morning, a taxi dropped her.",
                       sent="Fri, 08 Jan 2027 05:10:00 +0000")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 8, 4, 40, tzinfo=UTC)


# -- the subject is a title when the body denies an episode ---------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "Weekly summary: no episodes this week for anyone at Oak House.",
        "Dana has not gone missing since October and is doing well at school.",
    ],
)
def test_a_summary_under_a_missing_subject_is_no_report(body: str) -> None:
    assert read(body, subject="Oak House missing returns - weekly")[1].kind == "not_a_report"


@pytest.mark.parametrize("subject", ["Dana not in", "Dana not come in", "dana not in!"])
def test_a_not_in_subject_is_missing(subject: str) -> None:
    assert read("Went out at 8, no answer on her phone.", subject=subject)[1].kind == "missing"


# -- times ---------------------------------------------------------------------------------


def test_tonight_in_mail_sent_after_midnight_is_the_evening_just_gone() -> None:
    base = datetime(2027, 1, 8, 0, 40, tzinfo=LONDON)
    when, why = read_when("went out at 10.30pm tonight", base)
    assert why is None
    assert when == datetime(2027, 1, 7, 22, 30, tzinfo=LONDON)
    assert read_when("left about 11 this evening", base)[0] == datetime(2027, 1, 7, 23, 0,
                                                                         tzinfo=LONDON)


@settings(max_examples=60, deadline=None)
@given(minutes_after_midnight=st.integers(0, 4 * 60 + 59), hour=st.integers(6, 11))
def test_tonight_after_midnight_is_never_after_the_email(minutes_after_midnight: int,
                                                         hour: int) -> None:
    base = datetime(2027, 3, 3, tzinfo=LONDON) + timedelta(minutes=minutes_after_midnight)
    when, _why = read_when(f"went out at {hour}pm tonight", base)
    assert when is not None
    assert when <= base
    assert when.date() == date(2027, 3, 2)


def test_the_return_time_is_arrival_at_the_placement_not_when_found() -> None:
    fields, _cls = read("Police located Dana at the retail park at 00:20 and dropped her back "
                        "here at ten to one.", sent="Fri, 08 Jan 2027 01:30:00 +0000")
    assert fields.returned_at == datetime(2027, 1, 8, 0, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "hour", "minute"),
    [
        ("I watched her walk off towards the bus stop at twenty past 7, she has not come in.",
         19, 20),
        ("Her mum saw her leave the flat at 6.45 and she hasn't been home since.", 18, 45),
    ],
)
def test_a_sighting_of_the_child_leaving_is_the_last_seen(body: str, hour: int,
                                                          minute: int) -> None:
    fields, _cls = read(body)
    assert fields.last_seen_at == datetime(2027, 1, 7, hour, minute, tzinfo=UTC)


# -- safe and well in plain words -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "safe"),
    [
        ("Dana came back at 10. She's fine, just tired.", True),
        ("Dana came back at 10, she is absolutely fine.", True),
        ("Dana came back at 10. No marks on her, gone to bed.", True),
        ("Dana came back at 10, cut on her hand, otherwise fine.", True),
        ("Dana came back at 10. She's not fine, very upset.", False),
        ("Dana came back at 10 and went to her room.", None),
    ],
)
def test_safe_and_well_in_plain_words(body: str, safe: bool | None) -> None:
    fields, _cls = read(body)
    if safe is False:
        assert fields.safe_and_well is not True
    else:
        assert fields.safe_and_well is safe


def test_fine_in_a_missing_report_is_not_safe_and_well() -> None:
    fields, cls = read("Dana hasn't come back. I'm sure she's fine but it's not like her.")
    assert cls.kind == "missing"
    assert fields.safe_and_well is None


# -- police ----------------------------------------------------------------------------------


@settings(max_examples=60)
@given(log=st.integers(1, 9999), day=st.integers(1, 28), month=st.integers(1, 12),
       year=st.integers(2000, 2099))
def test_a_log_written_with_a_short_or_full_year_is_one_reference(log: int, day: int,
                                                                  month: int, year: int) -> None:
    short = find_police_reference(f"Police log {log} of {day:02d}/{month:02d}/{year % 100:02d}")
    full = find_police_reference(f"Police log {log} of {day:02d}/{month:02d}/{year}")
    assert short == full == f"log {log} of {day:02d}/{month:02d}/{year}"


# -- several children ------------------------------------------------------------------------


def test_phone_text_without_full_stops_is_cut_where_another_child_is_named() -> None:
    got = each("dana not back from the shop meant to be in by 9 no answer on her phone "
               "marc is in his room watching tv")
    assert got == {"11": "missing"}


def test_names_said_together_stay_together() -> None:
    assert each("dana and priya not back from town, both phones off") == {
        "11": "missing", "13": "missing"}


def test_a_correction_names_the_child_who_came_back() -> None:
    got = each("Sorry, wrong name earlier: it was Priya who came back, not Dana. Dana is still "
               "not back.")
    assert got == {"13": "returned", "11": "missing"}


def test_initials_with_the_date_right_after_them_name_each_child() -> None:
    got = each("D.H. (01/04/2010) is back, came in at 10 on her own. M.H. (09/06/2012) is still "
               "out, last seen at the park.", sent="Thu, 07 Jan 2027 23:30:00 +0000")
    assert got == {"11": "returned", "12": "missing"}


# -- "he" / "she" after a jump between children ---------------------------------------------


def _sexed(child: ChildRecord, gender: str) -> ChildRecord:
    return ChildRecord(child.child_id, child.first_name, child.last_name, child.date_of_birth,
                       child.placement_name, child.placement_type, child.carer_emails,
                       {**child.attributes, "gender": gender})


def each_in(body: str, directory: list[ChildRecord]) -> dict[str, tuple[str, bool]]:
    raw = (f"From: {HOME}\nTo: m@example.org\nSubject: update\n"
           f"Date: Thu, 07 Jan 2027 23:30:00 +0000\n\n{body}\n").encode()
    msg = read_message(raw)
    assert msg.date is not None
    received = msg.date + timedelta(minutes=1)
    fields = extract_fields(msg, tz=LONDON, received_at=received)
    got = read_each_child(msg, fields, sender=HOME, children=directory, tz=LONDON,
                          received_at=received)
    assert got is not None
    return {r.child_id: (r.classification.kind, bool(r.classification.doubts)) for r in got}


JUMP = "Marcus is still out. Priya is not back either. He came back at 11 on his own."


def test_he_is_the_boy_the_directory_knows_when_the_carer_jumps_back() -> None:
    directory = [_sexed(MARCUS, "M"), _sexed(PRIYA, "F")]
    got = each_in(JUMP, directory)
    assert got["13"] == ("missing", False)
    assert got["12"][0] == "missing"  # back and still out in one email: the safe state
    assert got["12"][1]


def test_he_with_no_gender_in_the_directory_is_a_doubt_and_never_a_return() -> None:
    got = each_in("Priya is still out. Marcus is still out. She came back at 11.", [MARCUS, PRIYA])
    assert all(kind == "missing" for kind, _doubt in got.values())
    assert any(doubt for _kind, doubt in got.values())


def test_he_right_after_the_only_child_named_is_that_child() -> None:
    got = each_in("Marcus is back. He came in at 11 on his own. Priya is still out.",
                  [MARCUS, PRIYA])
    assert got == {"12": ("returned", False), "13": ("missing", False)}


def test_a_lower_case_name_typed_on_a_phone_is_matched_against_the_directory() -> None:
    got = each_in("marcus back at 11 priya still out", [MARCUS, PRIYA])
    assert got == {"12": ("returned", False), "13": ("missing", False)}


# -- several candidate times: a later sighting beats when the child left ----------------------


@pytest.mark.parametrize(
    ("body", "hour"),
    [
        ("Dana went out at 6 and was seen in town at 9 by her friend's mum.", 21),
        ("She left at half 5. She was then spotted at the bus station at 8.", 20),
        ("Dana went out at 6. She has not been seen since.", 18),
    ],
)
def test_the_latest_sighting_is_the_last_seen(body: str, hour: int) -> None:
    fields, _cls = read(body)
    assert fields.last_seen_at is not None
    assert fields.last_seen_at.hour == hour


@pytest.mark.parametrize(
    "body",
    [
        "This is so unlike her, she has never gone missing before. Please ring me.",
        "She has not run off before and it's out of character.",
    ],
)
def test_a_first_time_under_a_missing_subject_is_still_missing(body: str) -> None:
    assert read(body, subject="Dana missing")[1].kind == "missing"
