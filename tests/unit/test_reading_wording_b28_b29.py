"""Classes of wording found in held-out batches 28 and 29, each with our own examples: a
claim passed on by the police ("stating that she returned to her mother's"), history beside a
report ("No previous missing episodes from this placement"), a request for a return interview
that tells old news, a brother named by the relation and his name, a writer unsure whether it
counts as missing, and "Police log is still ..."."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbridge.reading.classify import Classification
from mailbridge.reading.fields import ReportFields
from mailbridge.reading.police import find_police_reference
from tests.support.carer_mail import read_carer_mail

RECEIVED = datetime(2027, 5, 16, 12, 17, tzinfo=UTC)


def read(body: str, subject: str = "Dana") -> tuple[ReportFields, Classification]:
    return read_carer_mail(
        body, sent="Sun, 16 May 2027 13:15:40 +0100", received=RECEIVED, subject=subject
    )


@pytest.mark.parametrize(
    "body",
    [
        "The mother has called again stating that Dana returned to her address at 12:30 today. "
        "Officers have not yet been able to attend to verify this.",
        "Her dad is claiming she came back to his flat at 12:30, we have not seen her.",
        "A friend alleges that Dana came home at 12:30 but nobody here has seen her.",
    ],
)
def test_a_claim_passed_on_is_no_return(body: str) -> None:
    fields, cls = read(body)
    assert cls.kind == "missing" and cls.doubts
    assert fields.returned_at is None


def test_history_told_beside_a_report_does_not_take_it_back() -> None:
    _fields, cls = read(
        "Call received 00:50 from the foster carer re Dana, age 13. Dana left the house after "
        "an argument at approx 22:30 on Friday 07/05. Police informed, incident number 0612. "
        "No previous missing episodes from this placement."
    )
    assert cls.kind == "missing"
    _fields, cls = read("Our missing episodes for May: Dana 2, both closed.", "May summary")
    assert cls.kind == "not_a_report"


@pytest.mark.parametrize(
    ("body", "subject"),
    [
        (
            "Please can a return home interview be arranged for Dana. Dana came back to her "
            "foster carer Roisin on Sunday afternoon; I understand Roisin reported it to EDT at "
            "the time.",
            "RHI request - Dana",
        ),
        (
            "We received the notification that Dana returned to Oak House on 27/01/2027. Our "
            "worker offered a return home interview twice but Dana declined.",
            "RHI request - Dana",
        ),
    ],
)
def test_a_request_for_an_interview_that_tells_old_news_is_no_report(
    body: str, subject: str
) -> None:
    assert read(body, subject)[1].kind == "not_a_report"


@pytest.mark.parametrize(
    "body",
    [
        "Dana came back at 12:30 and I reported it to the police at the time.",
        "Dana has come back. I reported it to 101 at the time she left and have now told them "
        "she is back.",
        "Dana came back at 12:30, staff reported it to the police at the time.",
    ],
)
def test_a_live_return_that_says_it_was_reported_is_still_a_return(body: str) -> None:
    assert read(body)[1].kind == "returned"


def test_her_brother_by_name_coming_back_is_not_her_return() -> None:
    fields, cls = read(
        "dana hasnt come back from the rec she went out at 10 with her bike. her brother mason "
        "came back at 12 and said dana went off with some older lads"
    )
    assert cls.kind == "missing" and fields.returned_at is None
    fields, cls = read("Dana's brother Mason came back at 12:00 without her. Dana still out.")
    assert cls.kind == "missing" and fields.returned_at is None


def test_a_writer_unsure_it_counts_as_missing_is_a_report_to_confirm() -> None:
    _fields, cls = read(
        "I'm not sure if this is the right address or if this even counts as missing because "
        "she's 17. Dana left here on Friday at 8 to go to college and hasn't been back since.",
        "Dana - not been back since Friday",
    )
    assert cls.kind == "missing"
    assert "the writer is not sure this counts as missing" in cls.doubts


def test_a_log_that_is_still_the_same() -> None:
    assert find_police_reference("Police log is still 1876 of 26/01/27.") == (
        "log 1876 of 26/01/2027"
    )


def test_not_seen_by_name_nor_spoken_to_is_still_out() -> None:
    _fields, cls = read(
        "Update - Dana's friend messaged me at 11.15 to say Dana is at her house and she'll come "
        "home in the morning. We haven't seen Dana or spoken to her ourselves."
    )
    assert cls.kind == "missing"


def test_a_request_to_allocate_an_interview_after_an_absence_that_is_over() -> None:
    _fields, cls = read(
        "Could you allocate a return home interview for Dana please? She was missing from Oak "
        "House over New Year (back on the 1st).",
        "RHI request - Dana",
    )
    assert cls.kind == "not_a_report"


@pytest.mark.parametrize(
    "body",
    [
        # found on review: the old-news rules set these live reports aside as no report
        "Dana ran off at 9pm. Please arrange a return home interview for when she is back. Her "
        "nan reported it to the police at the time.",
        "Dana went missing at 9pm. Please arrange a return home interview when she is found; "
        "she was missing last weekend as well and came back on Sunday.",
        "Dana went missing at 9pm from the park. Please send me the missing referral form so I "
        "can fill it in.",
        "Dana went missing at 9pm. We got a notification that her phone was back on at 10.",
    ],
)
def test_an_absence_told_as_news_is_never_old_news(body: str) -> None:
    assert read(body)[1].kind == "missing"


def test_a_notification_from_someone_else_that_she_is_back_is_second_hand() -> None:
    # found on review (it was read as a return, before this session too)
    fields, cls = read(
        "Dana went missing at 9pm. We received a notification from the school that she was back "
        "at her mum's at 10 but we cannot confirm it."
    )
    assert cls.kind == "missing" and cls.doubts and fields.returned_at is None
