"""Classes of wording found in held-out batches 30 and 31, each with our own examples: a child
'back' with a parent or relative who is keeping them there (not back at the placement), a
mother's own word that the child is home with her, and a text or message from someone else
saying the child is back. Each is the safe state (missing, with the reason to confirm); a
return to the placement after a find at a relative's, or an agreed stay, is still a return."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbridge.reading.classify import Classification
from mailbridge.reading.match import shared_domains, writes_for_placement
from tests.support.carer_mail import OAK_HOUSE, DirectoryRow, read_carer_mail


def read(
    body: str,
    sender: str = OAK_HOUSE,
    *,
    subject: str = "Dana",
    sent: str = "Sun, 11 Apr 2027 16:40:00 +0100",
    received: datetime = datetime(2027, 4, 11, 15, 41, tzinfo=UTC),
) -> Classification:
    return read_carer_mail(body, sent=sent, received=received, subject=subject, sender=sender)[1]


@pytest.mark.parametrize(
    "body",
    [
        "Dana was located at her mother's address at 15:30 today and officers have returned her "
        "home to mum. Mum is happy for her to stay there tonight.",
        "her mum rang me at 7 this morning shes at hers she turned up there in the night "
        "sometime. shes keeping her there today and will send her to school from hers",
        "hi this is danas mum. dana is home now with me shes safe. she doesnt want to go back to "
        "that foster placement",
        "Her boyfriend has just messaged me to say she is back at the house now and asleep. I am "
        "at work until 6 so I can't check.",
        "Dana's friend texted us to say Dana came home at 2.",
    ],
)
def test_back_with_family_or_on_someone_elses_word_is_the_safe_state(body: str) -> None:
    cls = read(body)
    assert cls.kind == "missing"
    assert cls.doubts


@pytest.mark.parametrize(
    "body",
    [
        "Police found Dana at her nan's at 13:30 and dropped her back here at 14:15. She's fine.",
        "Gary (Dana's foster carer) has just rung me to say Dana came home at 3.35pm. She is safe "
        "and well.",
        "Dana came back at 3pm, she says she was at her mum's all night. She is fine.",
    ],
)
def test_back_at_the_placement_is_still_a_return(body: str) -> None:
    assert read(body).kind == "returned"


def test_a_complaint_that_nobody_rang_back_is_no_return() -> None:
    kind = read(
        "We sent an email on Saturday night about our foster son and got an automatic reply. "
        "Nobody rang us back at all over the weekend.",
        "Kath <kath@example.com>",
        subject="Complaint - nobody rang us back",
        sent="Mon, 22 Nov 2027 09:05:44 +0000",
        received=datetime(2027, 11, 22, 9, 6, tzinfo=UTC),
    ).kind
    assert kind == "not_a_report"


def test_a_request_for_the_notifications_of_returns_is_no_report() -> None:
    kind = read(
        "Please can you send us the missing notifications for Dana (returned 05/11) and Sam "
        "(returned 07/11) so we can allocate the return home interviews?",
        "RHI Service <referrals@rhi.example>",
        subject="Return home interviews - missing notifications",
        sent="Mon, 15 Nov 2027 11:00:31 +0000",
        received=datetime(2027, 11, 15, 11, 1, tzinfo=UTC),
    ).kind
    assert kind == "not_a_report"


def test_a_return_still_to_come_or_family_passing_it_on_is_not_back() -> None:
    assert read(
        "Dana has been located by BTP at the station at 14:50 today. She is safe and well and "
        "will be conveyed back to Oak House by our officers this afternoon, ETA around 17:30."
    ).kind == "missing"
    cls = read(
        "Her mum rang the home at 7.45 this morning to say Dana turned up at hers late last "
        "night and stayed over. We have not seen or spoken to Dana ourselves."
    )
    assert cls.kind == "missing" and cls.doubts


def test_a_shared_council_domain_is_no_homes_own() -> None:
    moorside = DirectoryRow("1", "Tyler", "A", None, "Moorside", ("moorside@council.example",))
    beech = DirectoryRow("2", "Kian", "L", None, "Beechfield", ("beechfield@council.example",))
    westbury = DirectoryRow("3", "Dana", "H", None, "Westbury Court", ("office@westbury.example",))
    shared = shared_domains([moorside, beech, westbury])
    assert shared == frozenset({"council.example"})
    # the duty team at the council's domain is no carer of a council home
    assert not writes_for_placement(moorside, "edt@council.example", shared)
    assert writes_for_placement(moorside, "moorside@council.example", shared)
    # a home's own domain still counts for its staff's own addresses
    assert writes_for_placement(westbury, "m.zielinski@westbury.example", shared)
