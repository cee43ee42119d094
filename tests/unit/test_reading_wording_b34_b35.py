"""Classes of wording found in held-out batches 34 and 35, each with our own examples both ways.

A child located by the police but held (in custody, at a police station waiting to be fetched,
spoken to and left where they were) is found, not back: the safe state, with the reason. Things
that are not a child's movements (a gate staff found open, a car the child got into, an alarm
that went off again, "at Yvonne's home", the clocks going back) are not read as one. A return
told on the new or the old clock in the night the clocks go back is read on that clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbridge.reading.classify import Classification
from mailbridge.reading.fields import ReportFields
from mailbridge.reading.police import find_police_reference
from mailbridge.reading.times import parse_when, read_when
from tests.support.carer_mail import LONDON, OAK_HOUSE, read_carer_mail

SENT = "Sat, 18 Mar 2028 23:40:00 +0000"
RECEIVED = datetime(2028, 3, 18, 23, 41, tzinfo=UTC)


def read(body: str, *, subject: str = "Dana", sent: str = SENT,
         received: datetime = RECEIVED) -> tuple[ReportFields, Classification]:
    return read_carer_mail(body, sent=sent, received=received, subject=subject, sender=OAK_HOUSE)


@pytest.mark.parametrize(
    "body",
    [
        "Dana was located at 20:20 at an address in Netherton during a warrant. She has been "
        "arrested and is currently in custody at Brierley Hill. She will not be returning to Oak "
        "House until she is released.",
        "Dana was located by British Transport Police at the railway station at 21:30. She has "
        "been brought to Wolverhampton police station and is waiting in the front office with an "
        "officer for care home staff to collect her.",
        "The police went round to her boyfriend's flat this evening and she was there, they spoke "
        "to her. She has told them she will come back tomorrow maybe.",
    ],
)
def test_found_by_the_police_but_not_back_is_the_safe_state(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "missing"
    assert cls.doubts


@pytest.mark.parametrize(
    "body",
    [
        "Dana was located by police at the railway station at 21:30 and brought back to Oak House "
        "at 22:45. She is safe and well.",
        "Dana was arrested on Friday for shoplifting and released. Tonight she came back at 22:10 "
        "and is fine.",
    ],
)
def test_found_and_brought_back_is_still_a_return(body: str) -> None:
    assert read(body)[1].kind == "returned"


def test_a_place_named_as_someones_home_is_no_return() -> None:
    fields, cls = read(
        "Just to let you know that the return home interview for Dana, following her missing "
        "episode on Tuesday night, has been booked for Monday at 4pm at Yvonne's home.")
    assert cls.kind == "not_a_report"
    assert fields.returned_at is None
    # the same two letters as "is": still a return
    assert read("Dana's home. Came in at 22:30, she is fine.")[1].kind == "returned"


def test_not_knowing_where_the_child_is_is_an_absence() -> None:
    _fields, cls = read("Hi, Dana text me saying she will be back tomorrow. She won't pick up when "
                        "I ring so we don't actually know where she is or who with.",
                        subject="Re: Dana not home")
    assert cls.kind == "missing"


def test_a_cad_number_after_ringing_the_police_keeps_its_label() -> None:
    assert find_police_reference("rang the police the cad number is 2260") == "CAD 2260"
    assert find_police_reference("rang the police the number is 2260") == "2260"


def test_a_friends_return_in_lower_case_is_not_the_childs() -> None:
    body = ("dana not home yet. went out at 5 to her friend Jades. Ive text her loads nothing back "
            "and jades mum says they went out together at 7 and jade is home.")
    _fields, cls = read(body)
    assert (cls.kind, cls.doubts) == ("missing", ())
    # the child's own return told by the friend's mother is still second-hand
    _fields, cls = read("dana went out at 5 to her friend Jades. jades mum says dana is home.")
    assert cls.kind == "missing" and cls.doubts


@pytest.mark.parametrize(
    "body",
    [
        "Dana was last seen by staff at 19:10 in the back garden. At 19:25 staff found the back "
        "gate open and she had gone.",
        "Dana not come back from school. School said she walked out the side gate at 14:50 and "
        "got in a silver car with 2 older lads.",
    ],
)
def test_a_thing_found_or_got_into_is_no_return(body: str) -> None:
    _fields, cls = read(body)
    assert (cls.kind, cls.doubts) == ("missing", ())


@pytest.mark.parametrize(
    "body",
    [
        "Staff found her at the park at 20:30 and brought her back.",
        "she got in at 10 past 11, she is fine",
    ],
)
def test_a_child_found_or_got_in_is_a_return(body: str) -> None:
    assert read(body)[1].kind == "returned"


def test_an_alarm_that_went_off_again_is_not_a_child_gone_again() -> None:
    body = ("Handover from nights.\n\nDana\nSettled, in bed by 22:00. No issues.\n\n"
            "Building\nLounge fire door alarm went off again at 02:00, nobody there.")
    _fields, cls = read(body, subject="Night handover",
                        sent="Sun, 19 Mar 2028 07:30:00 +0000",
                        received=datetime(2028, 3, 19, 7, 31, tzinfo=UTC))
    assert cls.kind == "not_a_report"


def test_going_to_bed_after_the_return_is_not_the_last_sighting() -> None:
    fields, cls = read("Dana - brought back by police at 22:35. Safe and well. Had a sandwich and "
                       "went to bed about 23:10.")
    assert cls.kind == "returned" and not cls.doubts
    assert fields.last_seen_at is None
    fields, _cls = read("Dana went to bed at 21:00. At 22:30 her room was empty and the window "
                        "open. Not back.")
    assert fields.last_seen_at == datetime(2028, 3, 18, 21, 0, tzinfo=UTC)


def test_the_hour_the_clocks_go_back_is_read_on_the_clock_the_writer_names() -> None:
    base = datetime(2028, 10, 29, 7, 0, tzinfo=LONDON)
    utc = [parse_when(t, base).astimezone(UTC).hour  # type: ignore[union-attr]
           for t in ("came in at 01:50 - that's GMT", "at 01:35 NEW time", "at 01:35 BST",
                     "at 01:35 on the old time", "at 01:35")]
    # GMT / new time: the second 01:xx (01:xx UTC); BST, old time or nothing said: the first
    assert utc == [1, 1, 0, 0, 0]


def test_the_clocks_going_back_is_no_one_leaving() -> None:
    fields, _cls = read(
        "Dana brought back by police at 01:35 new time (after the clocks had gone back it was "
        "02:35 on the old time). Safe and well.",
        sent="Sun, 29 Oct 2028 07:40:00 +0000",
        received=datetime(2028, 10, 29, 7, 41, tzinfo=UTC))
    assert fields.last_seen_at is None
    assert fields.returned_at == datetime(2028, 10, 29, 1, 35, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "hour", "minute"),
    [
        # the time in the trigger's own clause, not an earlier one in the sentence
        ("She came out of class at 3.15 upset, I was talking to her teacher and at 3.20 she ran "
         "out the gate towards the high street.", 15, 20),
        ("Dana got off the school bus outside at 16:40 (seen by staff) but did not come in - she "
         "walked off towards Pitsea with a male.", 16, 40),
        # when she was missed is not when she was seen
        ("She was out in the garden at twenty to 5 and when I went to shout her in about 5 she "
         "was gone.", 16, 40),
    ],
)
def test_the_sighting_is_the_time_told_with_it(body: str, hour: int, minute: int) -> None:
    fields, _cls = read(body, sent="Mon, 23 Oct 2028 18:40:00 +0100",
                        received=datetime(2028, 10, 23, 17, 41, tzinfo=UTC))
    assert fields.last_seen_at is not None
    local = fields.last_seen_at.astimezone(LONDON)
    assert (local.hour, local.minute) == (hour, minute)


def test_a_gmt_time_after_an_email_sent_in_the_first_hour_is_no_fact() -> None:
    # sent at 01:55 BST (00:55 UTC) on the night the clocks go back: "01:50 GMT" is 01:50 UTC,
    # nearly an hour after the email, though its wall clock reads earlier
    base = datetime(2028, 10, 29, 1, 55, tzinfo=LONDON)
    assert base.utcoffset() == timedelta(hours=1)
    when, why = read_when("came in at 01:50 GMT", base)
    assert when is None and why is not None
    when, _why = read_when("came in at 01:50 BST", base)
    # (a time in the repeated hour never compares equal across zones: PEP 495)
    assert when is not None and when.astimezone(UTC) == datetime(2028, 10, 29, 0, 50, tzinfo=UTC)
