"""Classes of wording found in held-out batches 40 and 41, each with our own examples both ways.

A child who "turned up at mine" (a parent's), who "is being conveyed back" by officers, or who
"arrived at school" is found, not back; a sibling still out in a reply on a thread about both is
still missing when only the other's return is told; taking a child "in to school" after the
return is no pending return.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbridge.directory.records import ChildRecord
from mailbridge.reading.classify import Classification
from mailbridge.reading.fields import ReportFields
from tests.support.carer_mail import OAK_HOUSE, read_carer_mail, read_children

SENT = "Mon, 17 Feb 2031 14:05:00 +0000"
RECEIVED = datetime(2031, 2, 17, 14, 6, tzinfo=UTC)


def read(body: str, *, subject: str = "Dana", sender: str = OAK_HOUSE,
         ) -> tuple[ReportFields, Classification]:
    return read_carer_mail(body, sent=SENT, received=RECEIVED, subject=subject, sender=sender)


@pytest.mark.parametrize(
    "body",
    [
        "hi this is danas mum. shes turned up at mine this afternoon, she got the train. shes "
        "staying here tonight and ill take her back to that place tomorrow dinner time",
        "Dana was reported missing at 23:30. At 03:40 hrs today Dana was located by British "
        "Transport Police officers at Lewisham DLR station. She is being conveyed back to the "
        "home address by officers.",
        "Dana's foster carer let us know she was reported missing overnight. Dana arrived at "
        "Breydon Academy at 12:30 today. She came in on her own through reception.",
    ],
)
def test_found_somewhere_else_is_the_safe_state(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "missing"
    assert cls.doubts


@pytest.mark.parametrize(
    "body",
    [
        "Morning, I picked Dana up from Maryam's and we got back home at 8.20. She's ok. I'll take "
        "her in to school for 2nd lesson.",
        "Dana turned up at ours at 10 past 1, she is fine.",
    ],
)
def test_home_is_still_home(body: str) -> None:
    _fields, cls = read(body)
    assert (cls.kind, cls.doubts) == ("returned", ())


def _each(subject: str, body: str) -> dict[str, str]:
    home = "karen.shreeve@example.net"
    lexi = ChildRecord("1", "Lexi", "Quadling", None, "Shreeve", "Foster placement", (home,))
    alfie = ChildRecord("2", "Alfie", "Quadling", None, "Shreeve", "Foster placement", (home,))
    got = read_children(body, sent=SENT, received=RECEIVED, children=[lexi, alfie],
                        subject=subject, sender=home) or []
    return {r.child_id: r.classification.kind for r in got}


def test_the_sibling_a_reply_tells_no_return_of_stays_missing() -> None:
    body = ("Lexi has just come back on her own, she walked in at 13:50. Alfie is NOT with her. "
            "Lexi says Alfie got on the bus to Watton to go and find their mum.")
    assert _each("Re: URGENT Alfie and Lexi Quadling missing", body) == {
        "1": "returned", "2": "missing"}
    # a subject that says they are not missing is not read so
    assert _each("Re: Alfie and Lexi Quadling away at camp - NOT missing",
                 "Lexi is having a great time. Alfie is with the leaders.").get("2") != "missing"


def test_a_carer_writing_in_a_second_language_tells_a_return() -> None:
    fields, cls = read("Dana come home now, 12.10. Police bring her, they find her in town centre. "
                       "She is safe, she is not hurt.")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2031, 2, 17, 12, 10, tzinfo=UTC)


def test_a_taxi_firms_word_that_it_dropped_the_child_back_is_second_hand() -> None:
    _fields, cls = read("We had a call from the police asking us to collect a young person, Dana, "
                        "from the police station. Our driver has told us he dropped her off at "
                        "Oak House at 00:35. Can you please let us have a purchase order number?",
                        sender="Fen Cars <bookings@fencars.example>")
    assert cls.kind == "missing" and cls.doubts


def test_a_school_asking_about_procedure_is_no_report() -> None:
    _fields, cls = read("Following an incident yesterday where a pupil left site (she was brought "
                        "home safely by police last night), I would like to check the correct "
                        "procedure for our staff. Should we contact the carer first?",
                        sender="DSL <dsl@academy.example>")
    assert cls.kind == "not_a_report"
    _fields, cls = read("Dana went missing at 9pm, not back yet. I would like to check the correct "
                        "procedure for calling the police.")
    assert cls.kind == "missing"


def test_a_sibling_gone_to_bed_is_not_read_as_still_out() -> None:
    got = _each("Re: Alfie and Lexi Quadling missing",
                "Lexi came back at 9. Alfie went to bed at 10.")
    assert got.get("2") != "missing"
