"""Classes of carers' wording the held-out batch 9 showed the reader missing (issue 13).

Rules for a class of wording each, with examples of our own: "remains missing", a hedge that
is a guess ("I think she's back", "must have come in"), found and held somewhere until the carer
gets there, "shes in" and "came to the door", the writer telling the police is not hearsay, a
date of birth is not the day it happened, a summary or a complaint is not news, nobody currently
missing, a first name once the full name is given, and never a time after the receipt.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbridge.reading import extract_fields, read_message
from mailbridge.reading.children import read_each_child
from tests.support.wording import LONDON, OAK, each, read


def test_remains_missing_beside_anothers_return() -> None:
    body = "Both left together at 9. Priya returned at 1.30am. Dana remains missing."
    assert read(body, sent="Fri, 08 Jan 2027 02:40:00 +0000")[1].kind == "missing"


@pytest.mark.parametrize("body", [
    "I think Dana is back, her coat is on the hook but her door is shut.",
    "Her shoes are by the door so she must have come in while I was asleep.",
])
def test_a_guess_that_the_child_is_back_is_a_doubt(body: str) -> None:
    _fields, cls = read(body, sent="Fri, 08 Jan 2027 02:10:00 +0000")
    assert cls.kind == "missing" and cls.doubts


def test_found_and_held_until_the_carer_gets_there_is_not_back() -> None:
    fields, cls = read("Police found Dana at the bus station at 21:40. She's OK but they're "
                       "keeping her at the station until I get there, should have her home by "
                       "midnight.")
    assert cls.kind == "missing" and cls.doubts and fields.returned_at is None


def test_shes_in_came_to_the_door_and_telling_the_police_is_no_hearsay() -> None:
    fields, cls = read("shes in. dana came to the door at 22.10, no injuries. police told shes "
                       "back", sent="Thu, 07 Jan 2027 22:20:00 +0000")
    assert (cls.kind, cls.doubts) == ("returned", ())
    assert fields.returned_at == datetime(2027, 1, 7, 22, 10, tzinfo=UTC)


def test_a_date_of_birth_is_not_the_day_it_happened() -> None:
    fields, _cls = read("DH dob 01/04/10 awol from 1400hrs, left via the side gate.",
                        sent="Thu, 07 Jan 2027 14:50:00 +0000")
    assert fields.last_seen_at == datetime(2027, 1, 7, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize("body", [
    "I want to raise a concern about how the police dealt with Dana when she went missing on "
    "Saturday. I reported her missing at 19:30 and nobody came until 1am.",
    "Our missing episodes for October to December:\nDana | 2 | 04/10 21:00 - 23:45 (returned "
    "by police)\nNo young person is currently missing from Oak House.",
])
def test_a_complaint_or_a_summary_is_not_news(body: str) -> None:
    assert read(body)[1].kind not in ("missing", "returned")


def test_a_first_name_counts_once_the_email_has_given_the_full_name() -> None:
    # from an address that is no carer's: "Dana" alone would not name her
    raw = (b"From: edt@council.example\nTo: m@example.org\nSubject: EDT note\n"
           b"Date: Fri, 08 Jan 2027 03:05:00 +0000\n\nRe: Dana Hughes and Priya Shah.\n"
           b"Priya returned alone at 01:30. Dana remains missing.\n")
    msg = read_message(raw)
    received = datetime(2027, 1, 8, 3, 6, tzinfo=UTC)
    fields = extract_fields(msg, tz=LONDON, received_at=received)
    got = read_each_child(msg, fields, sender=msg.from_addr, children=OAK, tz=LONDON,
                          received_at=received)
    assert got is not None
    assert {r.child_id: r.classification.kind for r in got} == {"11": "missing",
                                                               "13": "returned"}


def test_never_a_time_after_the_receipt() -> None:
    sent = datetime(2027, 1, 7, 19, 30, tzinfo=UTC)
    raw = (b"From: oakhouse@example.org\nTo: m@example.org\nSubject: Dana\n"
           b"Date: Thu, 07 Jan 2027 19:30:00 +0000\n\nDana has gone over the back fence at "
           b"19:45hrs, staff lost sight of her.\n")
    msg = read_message(raw)
    fields = extract_fields(msg, tz=LONDON, received_at=sent + timedelta(minutes=2))
    assert fields.last_seen_at is None and fields.doubts


def test_each_still_splits_a_plain_handover() -> None:
    assert each("Dana still out. Priya back at 10, fine.") == {"11": "missing", "13": "returned"}
