"""Classes of carers' wording the held-out batches 20 and 21 showed the reader missing (issue 13).

Batch 21 set times and dates at their hardest, and its first score had 4 unsafe errors: the
carer report form's RETURN part with a return time after the email was sent, or before the last
sighting, was read as a return. Also: "12.50 tonight" in mail sent at 03:10, "Thursday last
week", "last Monday - a week today", the absence told as background after the return ("He'd gone
out yesterday about 6 and didn't come home"), "came back with staff from the party", "found his
bed empty", and "left the school site". Examples are our own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.wording import read

FORM_RETURN = ("--- RETURN (fill in when the child is back) ---\nChild's name: Dana Hughes\n"
               "Date and time returned: {when}\nReturned by: came home herself\n"
               "Safe and well: yes\n")


def test_a_form_return_whose_time_cannot_be_right_is_not_a_return() -> None:
    fields, cls = read(FORM_RETURN.format(when="14/02/2027 19:30"),
                       sent="Sun, 14 Feb 2027 18:50:00 +0000")
    assert cls.kind == "missing" and cls.doubts and fields.returned_at is None
    fields, cls = read(FORM_RETURN.format(when="14/02/2027 17:30"),
                       sent="Sun, 14 Feb 2027 18:50:00 +0000")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 2, 14, 17, 30, tzinfo=UTC)


def test_hard_days() -> None:
    fields, _cls = read("Dana left at 12.50 tonight and has not come back.",
                        sent="Sun, 29 Mar 2026 03:10:00 +0100")
    assert fields.last_seen_at == datetime(2026, 3, 29, 0, 50, tzinfo=UTC)
    fields, _cls = read("Dana went out on Thursday last week at 4pm and has not come back.",
                        sent="Thu, 11 Mar 2027 10:00:00 +0000")
    assert fields.last_seen_at == datetime(2027, 3, 4, 16, 0, tzinfo=UTC)
    fields, _cls = read("I haven't seen Dana since last Monday - a week today - about 6 in the "
                        "evening, when she went out.", sent="Mon, 19 Oct 2026 11:00:00 +0100")
    assert fields.last_seen_at == datetime(2026, 10, 12, 17, 0, tzinfo=UTC)


def test_the_absence_told_as_background_after_the_return() -> None:
    _fields, cls = read("Just to let you know Dana came back in at half twelve this morning. She'd "
                       "gone out yesterday about 6 and didn't come home when she should have.",
                       sent="Sun, 25 Oct 2026 08:00:00 +0000")
    assert cls.kind == "returned" and not cls.doubts
    # a new absence after the return is news
    for body in ("Dana came back at 9pm. Then she left at 11 and never came back.",
                 "Dana came home at 9 but later she'd gone off and didn't come back.",
                 "Dana came home at 9. She'd gone out again by 11 and didn't come back."):
        _fields, cls = read(body, sent="Sun, 25 Oct 2026 23:50:00 +0000")
        assert cls.kind == "missing", body


def test_outings_things_and_sites() -> None:
    _fields, cls = read("Both in all night. They came back with staff at 11.45pm from the family "
                        "party, watched the fireworks and went to bed.")
    assert cls.kind != "returned"
    _fields, cls = read("Dana left the school site at 11:20 and is not answering her phone.")
    assert cls.kind == "missing"


def test_a_family_trip_and_no_episodes_since_are_no_report() -> None:
    _fields, cls = read("A half-term update: Dana has had a good week, we went to my sister's in "
                        "Whitby on Tuesday and came back Thursday. No missing episodes since the "
                        "summer.")
    assert cls.kind == "not_a_report"
    # the child's own return after the writer's trip is still a return
    _fields, cls = read("We went to the park to look for her, and Dana came back at 9.")
    assert cls.kind == "returned"
