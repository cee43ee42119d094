"""Classes of wording found in held-out batches 44 and 45, each with our own examples both ways.

"I have rung Bryony back at 00:40 - no change" is a call, not a return; an escort company's
"Absconsion during transfer", "took herself off again", "lost sight of him", "I reported her to
GMP" and "she is not coming home tonight" report an absence; a friend's mum's "she doesn't want to
go back ... she can stop on our sofa", a nan's "he is not going back", a hospital's "kept for
observation" and the police's "with us in the BTP office" are found, not back; "When they weren't
back by half 4 I rang round" is the story of a return; a forwarded email's "tonight" is the night
it was written.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbridge.reading import read_message
from mailbridge.reading.classify import Classification, classify
from mailbridge.reading.fields import ReportFields, _forward_base, _written_time, extract_fields
from tests.support.carer_mail import LONDON, OAK_HOUSE, read_carer_mail

SENT = "Mon, 21 Mar 2033 23:05:00 +0000"
RECEIVED = datetime(2033, 3, 21, 23, 6, tzinfo=UTC)


def read(body: str, *, subject: str = "Dana", sender: str = OAK_HOUSE,
         ) -> tuple[ReportFields, Classification]:
    return read_carer_mail(body, sent=SENT, received=RECEIVED, subject=subject, sender=sender)


@pytest.mark.parametrize(
    "body",
    [
        "Dana slammed out of the back door at 21:00. Tom saw her at 21:20 going down the track "
        "but lost sight of her at the road. I have rung Bryony back at 22:40 - no change.",
        "INCIDENT NOTIFICATION - ABSCONSION DURING TRANSFER\nAt 14:05 the vehicle pulled in at "
        "the services. Dana ran across the lorry park and climbed the fence.",
        "Just letting you know Dana has took herself off again. She slammed out the front door "
        "about 4 o'clock this afternoon.",
        "Dana was in the lounge at 22:50. On the 23:30 check her room was empty. I reported her "
        "to GMP at 23:40.",
        "Dana rang at 9. She is not coming home tonight and won't say where she is.",
    ],
)
def test_an_absence_told_another_way_is_a_report(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "missing"


@pytest.mark.parametrize(
    "body",
    [
        "Dana came in at 10pm. She said she is not coming back to school tomorrow.",
        "Dana is not coming home tonight, she is at her dad's as agreed with her social worker.",
        "Last month I reported her to the police when she went to Leeds. She is doing well now.",
        "Jo is back, I reported her to the police last night and have told them she is home.",
    ],
)
def test_no_absence_now(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind != "missing"


@pytest.mark.parametrize(
    "body",
    [
        "Hello, Dana is at my house with my daughter. Dana says she doesn't want to go back to "
        "Tracy's tonight, so I've said she can stop on our sofa and I'll make sure she goes back "
        "in the morning.",
        "I am Dana's nan. Dana knocked on my door tonight. He says he hates the home and he is not "
        "going back. The home said he was reported missing this afternoon.",
        "We have a 16 year old here, Dana, who says she ran off from her foster carers. She is "
        "being kept for observation and is not medically fit for discharge.",
        "Dana was reported missing earlier today. Dana is with us in the BTP office on the "
        "station. EDT is arranging a taxi to take her back.",
    ],
)
def test_found_somewhere_else_is_the_safe_state(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "missing"
    assert cls.doubts


@pytest.mark.parametrize(
    "body",
    [
        "Dana didn't come home after school today. When she wasn't back by half 4 I rang round her "
        "friends, then I rang 101. She walked in the back door at five past seven.",
        "hi its danas mum i no my mum emailed u earlier about her not coming back. shes back at my "
        "mums now i drove her round at 10.15 and watched her go in the door",
        "Dana came home at 10.15. She had been at a friend's playing games.",
        "Dana came home at 10pm. She is not going back to her mum's this weekend.",
    ],
)
def test_the_story_of_a_return_is_a_return(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "returned"
    assert not any("still out" in d for d in cls.doubts)


def test_when_she_was_not_back_with_no_return_is_still_missing() -> None:
    _fields, cls = read("When she wasn't back by half 4 I rang round her friends. No sign of her.")
    assert cls.kind == "missing"


def forward(note: str, sent_line: str, body: str, *, date: str) -> bytes:
    return (
        f"From: Hannah Bright <hannah.bright@council.example>\nTo: missing@council.example\n"
        f"Subject: FW: Dana home\nDate: {date}\n\n{note}\n\n-----Original Message-----\n"
        f"From: Lorraine Ashby <lorraine.ashby@mailbox.example>\nSent: {sent_line}\n"
        f"To: Bright, Hannah <hannah.bright@council.example>\nSubject: Dana home\n\n{body}\n"
    ).encode()


def test_a_forwarded_reports_tonight_is_the_night_it_was_written() -> None:
    raw = forward("Morning - forwarding this from Dana's carer. Please log her return.",
                  "21 November 2032 22:16",
                  "Hi Hannah, just to let you know Dana came home at quarter to ten tonight.",
                  date="Mon, 22 Nov 2032 08:40:00 +0000")
    msg = read_message(raw)
    fields = extract_fields(msg, tz=LONDON, received_at=datetime(2032, 11, 22, 8, 41, tzinfo=UTC))
    assert fields.returned_at == datetime(2032, 11, 21, 21, 45, tzinfo=UTC)
    assert classify(msg, fields).kind == "returned"


def test_a_forwarders_own_time_keeps_the_forwards_day() -> None:
    # the note tells news of its own, with a time of its own ("came in at 07:55 this morning"):
    # its words are the forwarder's, read at the forward's time, so the base does not move
    raw = forward("Update: Dana came in at 07:55 this morning, forwarding last night's email.",
                  "21 November 2032 22:16", "Dana has not come home tonight.",
                  date="Mon, 22 Nov 2032 08:40:00 +0000")
    msg = read_message(raw)
    base = datetime(2032, 11, 22, 8, 40, tzinfo=LONDON)
    assert _forward_base(msg, base, LONDON) == base
    quiet = read_message(forward("Forwarding, please log.", "21 November 2032 22:16",
                                 "Dana has not come home tonight.",
                                 date="Mon, 22 Nov 2032 08:40:00 +0000"))
    assert _forward_base(quiet, base, LONDON) == datetime(2032, 11, 21, 22, 16, tzinfo=LONDON)
    # a Sent line days before the forward is not the report's "now"
    old = read_message(forward("Forwarding, please log.", "10 November 2032 22:16",
                               "Dana has not come home tonight.",
                               date="Mon, 22 Nov 2032 08:40:00 +0000"))
    assert _forward_base(old, base, LONDON) == base


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Wednesday, March 8, 2028 9:31 PM", datetime(2028, 3, 8, 21, 31)),
        ("Fri, 22 Aug 2031 at 18:02", datetime(2031, 8, 22, 18, 2)),
        ("21 November 2032 22:16", datetime(2032, 11, 21, 22, 16)),
        ("22/05/2027 10:08 pm", datetime(2027, 5, 22, 22, 8)),
        ("not a date", None),
    ],
)
def test_a_forwards_sent_line_is_read_as_written(written: str, expected: datetime | None) -> None:
    assert _written_time(written) == expected


def test_a_return_interview_met_for_is_no_report() -> None:
    _fields, cls = read("I met Dana at Cedar Lodge this afternoon for her return home interview "
                        "about her missing episode on 13-14 November (she was away overnight and "
                        "came back on her own the next morning). Nothing for the missing inbox.")
    assert cls.kind == "not_a_report"


def test_a_missing_report_that_mentions_an_old_interview_is_still_a_report() -> None:
    _fields, cls = read("Dana went missing at 9pm tonight. I met Dana last week for her return "
                        "home interview about her last episode.")
    assert cls.kind == "missing"
