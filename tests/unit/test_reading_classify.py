"""classify: RFC 3834 machine mail first, then return versus missing language."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbridge.reading.classify import classify
from mailbridge.reading.fields import ReportFields
from mailbridge.reading.message import ReadMessage

EMPTY = ReportFields()


def kind(text: str = "", subject: str = "", fields: ReportFields = EMPTY, **kw: object) -> str:
    msg = ReadMessage(subject=subject, text=text, **kw)  # type: ignore[arg-type]
    return classify(msg, fields).kind


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"auto-submitted": "auto-replied"}, "auto_reply"),
        ({"auto-submitted": "auto-generated"}, "auto_reply"),
        ({"x-autoreply": "yes"}, "auto_reply"),
        ({"x-autorespond": "yes"}, "auto_reply"),
        ({"list-id": "<carers.example.org>"}, "list"),
        ({"list-unsubscribe": "<mailto:x@example.org>"}, "list"),
        ({"precedence": "list"}, "list"),
        ({"precedence": "bulk"}, "auto_reply"),
        ({"precedence": "junk"}, "auto_reply"),
        ({"x-auto-response-suppress": "All"}, "auto_reply"),
        ({"x-failed-recipients": "a@example.org"}, "bounce"),
        ({"return-path": "<>"}, "bounce"),
    ],
)
def test_machine_headers(headers: dict[str, str], expected: str) -> None:
    assert kind("thanks for the slides", headers=headers) == expected


def test_auto_submitted_no_is_human() -> None:
    assert kind("Jordan is missing", headers={"auto-submitted": "no"}) == "missing"


def test_weak_machine_hints_do_not_silence_a_report() -> None:
    assert kind("Jordan is missing", headers={"precedence": "bulk"}) == "missing"
    assert kind("Jordan is missing", headers={"x-auto-response-suppress": "All"}) == "missing"


@pytest.mark.parametrize(
    "subject",
    ["Automatic reply: Jordan missing", "Out of Office: Jordan", "Auto: away",
     "AutoReply: Jordan", "RE: update (Out of office)"],
)
def test_auto_reply_subjects(subject: str) -> None:
    assert kind("I am away until Monday", subject=subject) == "auto_reply"


def test_dsn_and_mailer_daemon_are_bounces() -> None:
    assert kind(content_type="multipart/report", report_type="delivery-status") == "bounce"
    assert kind("failed", from_addr="mailer-daemon@mx.example.org") == "bounce"
    assert kind("failed", from_addr="postmaster@mx.example.org") == "bounce"
    assert kind("x", subject="Undeliverable: Jordan missing") == "bounce"
    assert kind("x", delivery_status="Action: failed") == "bounce"


@pytest.mark.parametrize(
    "text",
    [
        "Jordan has returned home",
        "Jordan is back",
        "Jordan is back home, safe and well",
        "Jordan has come back",
        "Police found him safe at 2am and brought him home",
        "She was located by police in Leicester and is back with us now",
        "Jordan, who was missing since Tuesday, has come back home",
        "He was missing last night but is now back",
        "Jordan turned up at 3am",
        "no longer missing",
    ],
)
def test_returned(text: str) -> None:
    assert kind(text) == "returned"


@pytest.mark.parametrize(
    "text",
    [
        "Jordan is missing",
        "Jordan has absconded",
        "Jordan has not returned from school",
        "He hasn't come home",
        "he hasnt come home",
        "Jordan has not come back yet",
        "Jordan failed to return by curfew",
        "Jordan is AWOL",
        "Jordan has gone, his bed is empty",
        "Jordan didn't come home last night",
        "Jordan is still missing, he came back briefly at 2am then left",
        "Please let us know when he has returned. He is missing.",
        "Jordan is missing again, he only returned on Tuesday",
    ],
)
def test_missing(text: str) -> None:
    assert kind(text) == "missing"


@pytest.mark.parametrize(
    "text",
    [
        "Police found him safe at 2am",
        "She was located by police in Leicester",
    ],
)
def test_a_find_alone_is_no_return(text: str) -> None:
    """Found is where the child is, not back at the placement: the safe state, to confirm
    (these were read as returns until batch 42's "Officers have located Reece at a friend's
    flat ... refusing to go with them")."""
    assert kind(text) == "missing"


def test_subject_only_return() -> None:
    assert kind("", subject="Jordan Carter (100231) has returned") == "returned"


def test_report_facts_without_either_are_info() -> None:
    facts = ReportFields(police_reference="CAD 4512", child_id="100231")
    assert kind("Police gave a reference CAD 4512", fields=facts) == "info"


def test_form_report_type_wins() -> None:
    f = ReportFields(form_report_type="returned", form_used=True)
    assert kind("Report type: Returned", fields=f) == "returned"


def test_nothing_is_not_a_report() -> None:
    assert kind("thanks for the training yesterday", subject="thanks") == "not_a_report"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=60))
def test_never_raises(text: str, subject: str) -> None:
    assert kind(text, subject=subject) in {
        "missing", "returned", "info", "auto_reply", "bounce", "list", "not_a_report"}


def test_a_reply_subject_repeating_missing_is_not_itself_a_report() -> None:
    assert kind("Thanks for letting us know.", subject="Re: Missing: J.C.") != "missing"
    assert kind("Thanks for letting us know.", subject="AW: Missing: J.C.") != "missing"
    # New words in the reply still count, and a forward passes on the report it carries.
    assert kind("He has gone again and not come back.", subject="Re: Missing: J.C.") == "missing"
    assert kind("See below.", subject="FW: Leah missing") == "missing"
    assert kind("Thanks.", subject="Missing: J.C.") == "missing"
