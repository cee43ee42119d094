"""Return and missing language in context (issue 13): negation, intention, reported speech and
history never close an episode, and never open one."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mailbridge.reading import classify, extract_fields, read_message
from mailbridge.reading.context import assertions

LONDON = ZoneInfo("Europe/London")
SENT = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)


def kind_of(body: str, subject: str = "Jordan") -> str:
    raw = (f"From: carer@example.org\nTo: missing@council.example\nSubject: {subject}\n"
           f"Date: Wed, 02 Dec 2026 23:00:00 +0000\n\n{body}\n").encode()
    msg = read_message(raw)
    return classify(msg, extract_fields(msg, tz=LONDON, received_at=SENT)).kind


@pytest.mark.parametrize(
    "body",
    [
        "Jordan hasn't come back.",
        "Jordan is not back yet.",
        "He was due back at 9 and we have heard nothing.",
        "He was meant to be home by 10. No answer on his phone, police informed.",
        "He was supposed to come back after football, still out.",
        "He would not get in the car with staff and ran off. Still missing.",
        "His friend said he'd come back to ours after the film but he never did.",
        "jordan not back from school meant to be home by 4 not answering phone",
    ],
)
def test_still_missing_is_never_a_return(body: str) -> None:
    assert kind_of(body) == "missing"


@pytest.mark.parametrize(
    "body",
    [
        "Jordan has not run off since the spring and there have been no episodes this month.",
        "Jordan went missing last month and came back the next morning. Can we meet?",
        "For the review: he used to go missing from school but has settled well.",
        "Please let us know when he is back from his trip to his aunt's on Saturday.",
    ],
)
def test_history_and_plans_report_nothing(body: str) -> None:
    assert kind_of(body, subject="Review notes") == "not_a_report"


@pytest.mark.parametrize(
    "body",
    [
        "Jordan is home safe.",
        "She's back, walked in at 22:40.",
        "Jordan turned up at 7.10 with his friend's dad.",
        "Police dropped him home at 10pm, no injuries.",
        "He was found at his nan's by police at 21:50 and brought back.",
        "Just to let you know he is back.",
    ],
)
def test_plain_returns(body: str) -> None:
    assert kind_of(body) == "returned"


def test_a_return_passed_on_second_hand_is_a_doubt_not_a_return() -> None:
    body = "Her friend's mum has messaged to say Jordan is back at theirs, we haven't seen him."
    raw = (f"From: carer@example.org\nTo: m@example.org\nSubject: Jordan\n"
           f"Date: Wed, 02 Dec 2026 23:00:00 +0000\n\n{body}\n").encode()
    msg = read_message(raw)
    cls = classify(msg, extract_fields(msg, tz=LONDON, received_at=SENT))
    assert cls.kind == "missing"
    assert any("someone else" in d for d in cls.doubts)


def test_back_and_still_out_is_missing_with_a_doubt() -> None:
    raw = (b"From: carer@example.org\nTo: m@example.org\nSubject: Jordan\n"
           b"Date: Wed, 02 Dec 2026 23:00:00 +0000\n\nJordan is back. Sorry, he is still out.\n")
    msg = read_message(raw)
    cls = classify(msg, extract_fields(msg, tz=LONDON, received_at=SENT))
    assert cls.kind == "missing"
    assert cls.doubts and cls.return_cue == "Jordan is back."


def test_a_reply_subject_does_not_decide_but_the_new_words_do() -> None:
    assert kind_of("He's just walked in, 22:50, seems ok.", subject="Re: Jordan not home") \
        == "returned"


def test_assertions_carry_their_offsets() -> None:
    text = "Jordan is back but Kai is still out."
    found = assertions(text)
    assert [(a.said, text[a.start : a.end]) for a in found] == [
        ("returned", "is back"), ("still_missing", "still out")]
