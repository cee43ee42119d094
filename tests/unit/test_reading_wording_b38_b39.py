"""Classes of wording found in held-out batches 38 and 39, each with our own examples both ways.

A child the police have "located" and who "is currently with officers" stays found, not back,
even when the email tells the find again after it; a grandmother or an officer who has the child
where they are, and a cousin's word of an aunt's flat, are the safe state. A live report that
mentions a return interview done for an earlier episode is a report. Things that are not the
child ("his bike has gone missing", "refused to go to A&E", "a safe and well check will be
completed on return", a form's risk notes about an old episode) are not read as the child's news.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbridge.directory.records import ChildRecord
from mailbridge.reading.classify import Classification
from mailbridge.reading.fields import ReportFields
from mailbridge.reading.names import reporter_from_signature
from tests.support.carer_mail import OAK_HOUSE, read_carer_mail, read_children

SENT = "Wed, 10 Apr 2030 21:40:00 +0100"
RECEIVED = datetime(2030, 4, 10, 20, 41, tzinfo=UTC)


def read(body: str, *, subject: str = "Dana", sender: str = OAK_HOUSE, sent: str = SENT,
         received: datetime = RECEIVED) -> tuple[ReportFields, Classification]:
    return read_carer_mail(body, sent=sent, received=received, subject=subject, sender=sender)


@pytest.mark.parametrize(
    "body",
    [
        "Officers have located Dana at 23:40 at her birth mother's address. She is currently with "
        "officers at that address. Officers will be conveying her back once a vehicle is "
        "available; a safe and well check will be completed on return. Please note Dana was "
        "found at this address.",
        "Dana has been located by British Transport Police at East Croydon station this evening. "
        "She is currently with BTP officers and arrangements are being made to convey her back.",
        "I am Dana's grandmother. Dana arrived at my house this morning. She is here with me now "
        "and is saying she does not want to go back there. I did not know she had been reported "
        "missing until the police rang me.",
        "This afternoon I attended an address in Tankerton and spoke with Dana. She has stated she "
        "does not want to return to Canterbury tonight and she has been left at that address. The "
        "missing report will stay open.",
        "Officers attended her cousin's address. He told officers that Dana is staying at their "
        "aunt's flat. Dana remains recorded as missing.",
    ],
)
def test_found_or_somewhere_known_is_the_safe_state(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "missing"
    assert cls.doubts


@pytest.mark.parametrize(
    "body",
    [
        "Dana went missing at 9pm tonight. Her return home interview from last time was completed "
        "on Monday.",
        "Dana ran off at 9pm. The RHI was completed last week.",
    ],
)
def test_a_live_report_that_mentions_a_done_interview_is_a_report(body: str) -> None:
    assert read(body)[1].kind == "missing"


def test_a_return_interview_written_up_is_no_report() -> None:
    _fields, cls = read("Return home interview for Dana following her missing episode on 1st-2nd "
                        "December was completed today. She engaged well.")
    assert cls.kind == "not_a_report"


@pytest.mark.parametrize(
    "body",
    [
        "Dana returned at 05:40 and Gary let her in. She had a cut on her hand; she refused to go "
        "to A&E so the day team will get her seen.",
        "The police brought her back at ten to nine. She's fine just cold and upset because "
        "her bike has gone missing.",
    ],
)
def test_what_is_not_the_child_does_not_take_a_return_back(body: str) -> None:
    _fields, cls = read(body)
    assert (cls.kind, cls.doubts) == ("returned", ())


def test_a_forms_risk_notes_about_an_old_episode_raise_no_doubt() -> None:
    body = ("--- MISSING ---\nChild's name: Dana\nDate and time last seen: 10/04/2030 18:45\n"
            "Risk notes: went missing 31/03 and came back at 2am, we think she smokes weed\n"
            "Reported by: Lorraine Sayers\n\n--- RETURN (when the child is back) ---\n"
            "Date and time returned:\nSafe and well:\n")
    _fields, cls = read(body)
    assert (cls.kind, cls.doubts) == ("missing", ())


def test_five_oclock_tonight_is_the_evening() -> None:
    fields, _cls = read("Dana went out about 5 o'clock tonight to the precinct. She's not back.",
                        sent="Thu, 20 Dec 2029 22:30:19 +0000",
                        received=datetime(2029, 12, 20, 22, 31, tzinfo=UTC))
    assert fields.last_seen_at == datetime(2029, 12, 20, 17, 0, tzinfo=UTC)


def test_a_duty_line_under_a_signature_is_a_contact_line() -> None:
    fields, _cls = read("Summer remains missing.\n\nLorna Vickery\nOut of Hours Supervising Social "
                        "Worker\nAnchor Point Fostering\n24hr line: 0800 0900 771",
                        sender="Anchor Point OOH <ooh@anchorpoint.example>")
    assert fields.reporter_name == "Lorna Vickery"
    assert reporter_from_signature("--\nLorna Vickery\n24hr line: 0800 0900 771") == "Lorna Vickery"


def test_siblings_named_with_one_surname_are_each_read() -> None:
    home = "tina.youngman@mailbox.example"
    kacey = ChildRecord("1", "Kacey", "Rapley", None, "Youngman", "Foster placement", (home,))
    mason = ChildRecord("2", "Mason", "Rapley", None, "Youngman", "Foster placement", (home,))
    got = read_children(
        "Steve here (Tina's husband). Mason has just walked in at quarter to 9 on his own. He "
        "says Kacey went off with her mate earlier on.\n\nKacey is still out.",
        sent=SENT, received=RECEIVED, children=[kacey, mason],
        subject="Re: Kacey and Mason Rapley not home",
        sender="Steve <steve.y@mailbox.example>")
    assert got is not None
    assert {r.child_id: r.classification.kind for r in got} == {"1": "missing", "2": "returned"}
