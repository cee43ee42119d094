"""Classes of carers' wording the held-out batch 5 showed the reader missing (issue 13).

Rules for a class of wording each, with examples of our own: news that nothing has been heard
from a child, "not come back" without its auxiliary, second-hand word that a child is missing,
the 24-hour clock after "at", the last time anyone saw a child, a pasted text's own time stamps,
a curfew time that is not a sighting, "both fine", a name that is only the object of a clause,
a date of birth with no name, and a report forwarded as an attachment.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbridge.reading import extract_fields, read_message
from mailbridge.reading.children import read_each_child
from mailbridge.reading.context import assertions
from mailbridge.reading.fields import read_when
from mailbridge.reading.match import match_child
from tests.support.wording import HOME, LONDON, OAK, each, read


@pytest.mark.parametrize(
    "body",
    [
        "Still nothing from Dana, phone going to voicemail.",
        "No word from her since she left for the bus.",
        "We have heard nothing from Dana all evening.",
        "dana went to the park at 6 and not come back",
        "Dana she is not come to home since the afternoon.",
        "dana not in yet was due in at 9",
        "A neighbour told me Dana is missing, I checked her room and she is not there.",
    ],
)
def test_nothing_heard_and_not_come_back_are_missing(body: str) -> None:
    assert read(body)[1].kind == "missing"


@pytest.mark.parametrize("body", ["nothing from the police yet about the phone",
                                  "If she has not come back by 10, ring the police."])
def test_what_is_not_news_of_the_child_is_not_a_missing_cue(body: str) -> None:
    assert not [a for a in assertions(body) if a.said == "still_missing"]


def test_a_return_beside_nothing_heard_from_the_other_child_is_never_a_return() -> None:
    _fields, cls = read("Marc's back, came in about 10. Still nothing from Dana.")
    assert cls.kind == "missing" and cls.doubts
    assert each("Marc's back, came in about 10. Still nothing from Dana.") == {
        "12": "returned", "11": "missing"}


def test_a_child_named_as_the_object_of_a_clause_is_not_reported_on() -> None:
    assert each("Dana walked out at 7 after an argument with Priya over the laptop and not "
                "come back, phone off") == {"11": "missing"}


@pytest.mark.parametrize(("text", "hour", "minute"), [("came home at 0230", 2, 30),
                                                       ("back about 2315 with the police", 23, 15)])
def test_the_24_hour_clock_after_at(text: str, hour: int, minute: int) -> None:
    base = datetime(2027, 1, 15, 23, 50, tzinfo=UTC)
    when, _why = read_when(text, base)
    assert when is not None and (when.hour, when.minute) == (hour, minute)


@pytest.mark.parametrize("text", ["placed here since 2019", "log 2204 of 03/02",
                                  "at 1902 of 23/12"])
def test_years_and_log_numbers_are_not_times(text: str) -> None:
    assert read_when(text, datetime(2027, 1, 15, 23, 50, tzinfo=UTC))[0] is None


def test_the_last_time_anyone_saw_the_child() -> None:
    fields, _cls = read("Dana still isn't home. Last time anyone saw her was 6.20pm at the "
                        "bus station.")
    assert fields.last_seen_at == datetime(2027, 1, 7, 18, 20, tzinfo=UTC)


def test_a_pasted_text_conversation_reads_the_carers_words_not_the_stamps() -> None:
    fields, cls = read("Texts on the duty phone:\n[22:05] Carer: dana not in yet she was due in "
                       "at 10\n[22:07] Duty: when did you last see her?\n[22:12] Carer: about "
                       "half 7 she went to the shop\n")
    assert cls.kind == "missing"
    assert fields.last_seen_at == datetime(2027, 1, 7, 19, 30, tzinfo=UTC)


def test_a_curfew_is_when_a_child_was_missed_not_seen() -> None:
    fields, _cls = read("Dana was due back at 10. She went to her friend's at 6.")
    assert fields.last_seen_at == datetime(2027, 1, 7, 18, 0, tzinfo=UTC)


def test_both_fine_after_two_children_come_back() -> None:
    fields, cls = read("Both back now, Dana and Priya got in at 9 together. Both fine.")
    assert cls.kind == "returned" and fields.safe_and_well is True


def _match(body: str, *, sender: str, subject: str = "update") -> str | None:
    raw = (f"From: {sender}\nTo: m@example.org\nSubject: {subject}\n"
           f"Date: Thu, 07 Jan 2027 22:30:00 +0000\n\n{body}\n").encode()
    msg = read_message(raw)
    fields = extract_fields(msg, tz=LONDON, received_at=datetime(2027, 1, 7, 22, 31, tzinfo=UTC))
    return match_child(subject=msg.subject, text=msg.text, fields=fields, sender=msg.from_addr,
                       children=OAK, forwarded_from=msg.forwarded_from).child_id


def test_a_date_of_birth_with_no_name_from_the_childs_own_placement() -> None:
    assert _match("Young person (DOB 09/06/2012) back in placement at 0140hrs.",
                  sender=HOME) == "12"
    assert _match("Young person (DOB 09/06/2012) back in placement at 0140hrs.",
                  sender="someone@elsewhere.example") is None


def test_a_report_forwarded_as_an_attachment_is_read_and_matched_by_its_author() -> None:
    inner = (f"From: {HOME}\nTo: duty@council.example\nSubject: Priya\n"
             "Date: Thu, 07 Jan 2027 22:10:00 +0000\n\nPriya is home now, came in at 10pm on "
             "her own, safe and well.\n")
    boundary = "b-1"
    raw = (f"From: duty@council.example\nTo: m@example.org\nSubject: Fwd: Priya\n"
           "Date: Thu, 07 Jan 2027 22:30:00 +0000\nMIME-Version: 1.0\n"
           f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
           f"--{boundary}\nContent-Type: text/plain\n\nForwarding the carer's email (attached) "
           f"so the record is updated.\n--{boundary}\nContent-Type: message/rfc822\n\n{inner}\n"
           f"--{boundary}--\n").encode()
    msg = read_message(raw)
    received = datetime(2027, 1, 7, 22, 31, tzinfo=UTC)
    fields = extract_fields(msg, tz=LONDON, received_at=received)
    assert msg.forwarded_from == HOME
    assert fields.returned_at == datetime(2027, 1, 7, 22, 0, tzinfo=UTC)
    match = match_child(subject=msg.subject, text=msg.text, fields=fields,
                        sender=msg.from_addr, children=OAK, forwarded_from=msg.forwarded_from)
    assert match.child_id == "13"
    assert read_each_child(msg, fields, sender=msg.from_addr, children=OAK, tz=LONDON,
                           received_at=received) is None


def test_a_cover_note_that_reports_is_not_replaced_by_the_attachment() -> None:
    raw = (b"From: duty@council.example\nTo: m@example.org\nSubject: Fwd: earlier\n"
           b"Date: Thu, 07 Jan 2027 22:30:00 +0000\nMIME-Version: 1.0\n"
           b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
           b"Jo Bell is missing again tonight, left at 8. Earlier email attached.\n--b\n"
           b"Content-Type: message/rfc822\n\nFrom: x@example.org\nSubject: old\n\n"
           b"Jo is back home now.\n--b--\n")
    msg = read_message(raw)
    assert "missing again" in msg.text and "back home" not in msg.text
