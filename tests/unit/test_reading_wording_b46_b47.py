"""Classes of wording found in held-out batches 46 and 47, each with our own examples both ways.

"Currently with officers in the BTP office ... He is safe and well" is found, not back (how the
child is, not where); "I'll collect her things from camp" is no pending return; "let himself in
with his key" is a return; "he hasn't gone missing at any point" is no report; "She won't say
where she is" and a hospital's "kept under observation", "not yet medically fit to leave" keep the
child out.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbridge.reading.classify import Classification
from mailbridge.reading.fields import ReportFields
from tests.support.carer_mail import OAK_HOUSE, read_carer_mail

SENT = "Thu, 27 Oct 2033 17:05:00 +0100"
RECEIVED = datetime(2033, 10, 27, 16, 6, tzinfo=UTC)


def read(body: str) -> tuple[ReportFields, Classification]:
    return read_carer_mail(body, sent=SENT, received=RECEIVED, subject="Dana", sender=OAK_HOUSE)


@pytest.mark.parametrize(
    "body",
    [
        "Dana is recorded on PNC as missing from her placement. Dana is currently with officers in "
        "the BTP office at New Street station. She is safe and well. Her carers are travelling to "
        "collect her.",
        "Dana was brought in by ambulance overnight and says she ran off from her carers "
        "yesterday. She is being kept under observation and is not yet medically fit to leave the "
        "department. Staff are on their way to be with her.",
    ],
)
def test_found_somewhere_else_is_the_safe_state(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "missing"
    assert cls.doubts


@pytest.mark.parametrize(
    "body",
    [
        "Good news, Dana is home. She knocked on the door at 16:20. She is safe and well. I'll "
        "collect her things from camp tomorrow.",
        "dana home 3.10 this afternoon let herself in with her key, gone straight up to bed",
        "Police found Dana at 2pm. She is safe and well.",
    ],
)
def test_a_return_told_is_a_return(body: str) -> None:
    _fields, cls = read(body)
    assert (cls.kind, cls.doubts) == ("returned", ())


@pytest.mark.parametrize(
    "body",
    [
        "Dana sent me a WhatsApp this morning: \"im fine stop ringing the police\". She won't say "
        "where she is and hasn't answered since.",
        "Dana went missing at 2pm. She hasn't been missing at all before this.",
    ],
)
def test_still_out(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "missing"


def test_a_child_back_who_will_not_say_where_she_was_is_back() -> None:
    _fields, cls = read("Dana is back home, she won't say where she has been.")
    assert cls.kind == "returned"


def test_nothing_happened_is_no_report() -> None:
    _fields, cls = read("Just to be clear, nothing has happened with Dana, she hasn't gone missing "
                        "at any point! We cut the holiday short and got home last night.")
    assert cls.kind == "not_a_report"
