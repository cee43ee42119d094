"""Classes of carers' wording the held-out batch 6 showed the reader missing (issue 13).

Rules for a class of wording each, with examples of our own: a return time nearly a day before
the news, "it's now gone 11", heard but not seen, a future day after a return word, a monthly
summary's past episodes, "still not answering" beside another child's return, both parts of the
shipped form sent at once, a forward whose note is later than what it passes on, initials with
a date of birth and no label, and the plain words of a phone ("back 10.40 all good", "hes fine").
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbridge.reading import extract_fields, read_message
from mailbridge.reading.match import match_child
from tests.support.forms import FORM, filled
from tests.support.wording import HOME, LONDON, OAK, each, read


def test_a_return_time_nearly_a_day_before_the_news_is_a_doubt_not_a_return() -> None:
    fields, cls = read("Update: she's back, walked in at 7.40pm, having her tea.",
                       sent="Thu, 07 Jan 2027 19:05:00 +0000")
    assert cls.kind == "missing" and cls.doubts
    assert fields.returned_at is None


def test_last_night_is_still_reached_back_to() -> None:
    fields, cls = read("Dana came in at 23:40 last night, safe and well.",
                       sent="Fri, 08 Jan 2027 07:30:00 +0000")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 7, 23, 40, tzinfo=UTC)


def test_last_night_s_sighting_in_an_afternoon_email_is_still_last_night() -> None:
    fields, _cls = read("Dana has gone missing. Last seen in the garden at 21:50.",
                        sent="Fri, 08 Jan 2027 16:35:00 +0000")
    assert fields.last_seen_at == datetime(2027, 1, 7, 21, 50, tzinfo=UTC)


def test_an_overnight_report_sent_in_the_morning_keeps_its_evening_time() -> None:
    fields, _cls = read("Dana went out at 8pm and has not come back.",
                        sent="Fri, 08 Jan 2027 07:30:00 +0000")
    assert fields.last_seen_at == datetime(2027, 1, 7, 20, 0, tzinfo=UTC)


def test_gone_eleven_is_the_hour_not_the_child_leaving() -> None:
    fields, _cls = read("Dana was due back by 10, it's now gone 11 and she's not back. Her "
                        "friend's dad says she left theirs about 9.")
    assert fields.last_seen_at == datetime(2027, 1, 7, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize("body", [
    "I think I heard her come in about 2 but her door is locked and she won't answer.",
    "Night staff heard the back door go and heard someone come in, not seen her yet.",
])
def test_heard_but_not_seen_is_a_doubt(body: str) -> None:
    _fields, cls = read(body, sent="Fri, 08 Jan 2027 03:40:00 +0000")
    assert cls.kind == "missing" and cls.doubts


@pytest.mark.parametrize("body", [
    "Just to say Dana is NOT missing, she's at her aunt's for the weekend. She's back Sunday.",
    "Dana is staying at her dad's, agreed by her social worker. She'll be back next week.",
])
def test_a_return_on_a_future_day_is_not_a_return(body: str) -> None:
    assert read(body)[1].kind != "returned"


def test_a_monthly_summary_of_past_episodes_is_no_report() -> None:
    _fields, cls = read("Summary for December\nDana: 2 missing episodes (4th and 19th, both "
                        "came back by midnight, return interview done).\nPriya: no episodes.",
                        subject="Monthly summary")
    assert cls.kind not in ("missing", "returned")


def test_still_not_answering_beside_another_childs_return_keeps_the_email_missing() -> None:
    body = "priya is home now, picked her up at 10. dana still not answering her phone"
    assert read(body)[1].kind == "missing"
    assert each(body) == {"13": "returned", "11": "missing"}


@pytest.mark.parametrize(("body", "safe"), [("dana back 10.40 all good x", True),
                                            ("dana came back at 1 hes fine", True)])
def test_phone_shorthand_returns(body: str, safe: bool) -> None:
    fields, cls = read(body, sent="Thu, 07 Jan 2027 23:30:00 +0000")
    assert cls.kind == "returned" and fields.safe_and_well is safe


def test_risk_that_has_been_assessed() -> None:
    assert read("Dana has not come back. Risk has been assessed as HIGH.")[0].risk_level == "high"


def _form(missing_notes: str, returned: str) -> str:
    text = filled("MISSING", {"Child ID:": "11", "Date and time last seen:": "07/01/2027 18:00",
                              "Notes:": missing_notes}, FORM.read_text(encoding="utf-8"))
    return filled("RETURN", {"Date and time returned:": returned}, text) if returned else text


def test_both_parts_of_the_shipped_form_sent_at_once_is_a_return() -> None:
    body = _form("went to the shop and did not come back", "07/01/2027 22:10")
    assert "did not come back" in body and "07/01/2027 22:10" in body
    fields, cls = read(body)
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 7, 22, 10, tzinfo=UTC)


def test_the_missing_part_alone_with_its_story_stays_missing() -> None:
    fields, cls = read(_form("went to the shop and did not come back", ""))
    assert cls.kind == "missing" and fields.returned_at is None


def _forward(note: str, passed_on: str) -> tuple[str, datetime | None]:
    fields, cls = read(f"{note}\n\n-----Original Message-----\nFrom: {HOME}\n"
                       "Sent: Thursday, January 7, 2027 11:58 PM\nSubject: Dana\n\n"
                       f"{passed_on}", subject="FW: Dana", sender="duty@agency.example",
                       sent="Fri, 08 Jan 2027 08:05:00 +0000")
    return cls.kind, fields.returned_at


def test_a_forward_whose_note_says_the_child_is_back_over_the_missing_report() -> None:
    kind, returned_at = _forward("The carer rang at 07:50 to say that Dana returned home at "
                                 "06:30 this morning, safe and well.",
                                 "Dana has not returned this evening. Last seen 18:30.")
    assert kind == "returned"
    assert returned_at == datetime(2027, 1, 8, 6, 30, tzinfo=UTC)


def test_a_forward_whose_note_says_still_out_over_an_earlier_return() -> None:
    kind, _returned_at = _forward("Dana is still not back, she went out again after this.",
                             "Dana came back at 9pm.")
    assert kind == "missing"


def test_initials_with_a_date_of_birth_and_no_label() -> None:
    raw = (f"From: {HOME}\nTo: m@example.org\nSubject: M.H. (09/06/2012) - missing\n"
           "Date: Thu, 07 Jan 2027 16:20:00 +0000\n\nLeft at 1300hrs, not responding.\n").encode()
    msg = read_message(raw)
    fields = extract_fields(msg, tz=LONDON, received_at=datetime(2027, 1, 7, 16, 21, tzinfo=UTC))
    got = match_child(subject=msg.subject, text=msg.text, fields=fields, sender="x@elsewhere.org",
                      children=OAK)
    assert got.child_id == "12"
