"""What an alert puts first: the child (age, date of birth), who reported it and how to call
them; internal identifiers last, in a small footer; what the EDT is expected to do."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from mailbridge.alerts.alert_facts import AlertFacts
from mailbridge.alerts.render import Renderer
from mailbridge.alerts.words import age_on, born

LONDON = ZoneInfo("Europe/London")
RECEIVED = datetime(2026, 11, 26, 20, 4, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(tz=LONDON)


def missing(**changes: object) -> AlertFacts:
    values: dict[str, object] = {
        "event": "missing",
        "received_at": RECEIVED,
        "reference": "MB-2026-00042",
        "child_id": "100231",
        "child_first_name": "Jordan",
        "child_last_name": "Carter",
        "child_date_of_birth": date(2011, 3, 14),
        "placement_name": "Oakview House",
        "risk_level": "high",
        "reported_by": "oakview@homes.example",
        "reporter_name": "Sue Carter",
        "reporter_phone": "07700 900123",
        "sender_known": True,
        "match_method": "full_name",
        "match_confidence": 0.9,
        "carer_text": "Jordan has not come home.",
        "message_id": "abc@homes.example",
        "inbound_id": 17,
    }
    values.update(changes)
    return AlertFacts(**values)  # type: ignore[arg-type]


def test_age_is_whole_years_at_the_local_date_of_receipt():
    assert age_on(date(2011, 3, 14), date(2026, 3, 13)) == 14
    assert age_on(date(2011, 3, 14), date(2026, 3, 14)) == 15
    assert age_on(date(2012, 2, 29), date(2026, 2, 28)) == 13
    assert age_on(date(2012, 2, 29), date(2026, 3, 1)) == 14
    # 23:30 UTC on 13 March is already 14 March in London in summer time? No: March is GMT
    # until the last Sunday; 23:30 UTC on 13 June is 00:30 on 14 June in London (BST).
    late = datetime(2026, 6, 13, 23, 30, tzinfo=UTC)
    assert born(date(2010, 6, 14), late, LONDON) == "14 Jun 2010 (age 16)"
    assert born(date(2010, 6, 14), late, ZoneInfo("UTC")) == "14 Jun 2010 (age 15)"
    assert born(None, late, LONDON) is None


def test_the_first_screen_is_the_child_and_the_reporter(renderer):
    out = renderer.render_alert(missing(), role="social_worker", recipient_name="Sam Patel")
    lines = out.text.splitlines()
    first_screen = "\n".join(lines[:20])
    assert "Date of birth:          14 Mar 2011 (age 15)" in first_screen
    sent_by = next(x for x in lines if x.strip().startswith("Sent by:"))
    assert sent_by.split(":", 1)[1].strip() == (
        "Sue Carter, phone 07700 900123, oakview@homes.example (known carer)"
    )
    assert "14 Mar 2011 (age 15)" in out.html
    assert "Sue Carter, phone 07700 900123, oakview@homes.example (known carer)" in out.html


def test_internal_identifiers_are_in_the_footer_only(renderer):
    out = renderer.render_alert(missing(), role="social_worker", recipient_name=None)
    body, _, footer = out.text.rpartition("\n-- \n")
    for hidden in ("Message-ID", "abc@homes.example", "Confidence", "90%", "Message:"):
        assert hidden not in body, hidden
    assert footer.splitlines()[-1] == (
        "For the record: message 17 · Message-ID <abc@homes.example> · match confidence 90%"
    )
    html_body, _, html_tail = out.html.rpartition("For the record:")
    assert "abc@homes.example" not in html_body and "90%" not in html_body
    assert "font-size:11px" in html_body[-200:] and "abc@homes.example" in html_tail


def test_no_phone_given_is_said_on_the_same_line(renderer):
    out = renderer.render_alert(
        missing(reporter_phone=None, reporter_name=None, sender_known=False, child_id=None),
        role="duty",
        recipient_name=None,
    )
    assert (
        "Sent by:                phone not stated, oakview@homes.example (SENDER UNVERIFIED)"
        in (out.text)
    )


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("missing", "Make sure the police know"),
        ("update", "Make sure the police know"),
        ("returned", "back, safe and well"),
        ("not_a_report", "act on it if it is"),
        ("escalate_duty", "Make sure the police know"),
        ("interview_overdue", "back, safe and well"),
        ("escalation", "Make sure the police know"),
    ],
)
def test_the_edt_is_told_what_is_expected_of_it(renderer, event, expected):
    edt = renderer.render_alert(missing(event=event), role="edt", recipient_name=None)
    assert "OUT OF HOURS: you are told as the emergency duty team" in edt.text
    assert expected in edt.text and expected in edt.html
    assert "Reply to this email to acknowledge" in edt.text or "reply to this email" in edt.text
    other = renderer.render_alert(missing(event=event), role="social_worker", recipient_name=None)
    assert "OUT OF HOURS" not in other.text and "OUT OF HOURS" not in other.html
