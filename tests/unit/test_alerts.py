"""Alert and receipt rendering: subjects, facts, quoting, injection, overrides, receipts."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbridge.alerts.alert_facts import AlertFacts
from mailbridge.alerts.render import EVENTS, Renderer
from mailbridge.alerts.words import format_local, human_list, initials, one_line

LONDON = ZoneInfo("Europe/London")
RECEIVED = datetime(2026, 11, 26, 20, 4, 30, tzinfo=UTC)  # GMT: local 20:04
HOSTILE = (
    "Jordan has gone again.\n"
    "{{ 7*7 }} and {% raw %} and {{ config }}\n"
    "<script>alert(1)</script> <b>bold</b>\n"
    "</blockquote><p>after</p>\n"
    "{% for x in range(3) %}loop{% endfor %}"
)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(tz=LONDON)


def facts(**changes: object) -> AlertFacts:
    base = AlertFacts(
        event="missing",
        received_at=RECEIVED,
        reference="MB-2026-00042",
        child_id="100231",
        child_first_name="Jordan",
        child_last_name="Carter",
        child_name_given="Jordan Carter",
        placement_name="Oak House",
        risk_level="high",
        last_seen_at=datetime(2026, 11, 26, 19, 45, tzinfo=UTC),
        last_seen_text="about quarter to eight",
        last_seen_location="Oak House, front door",
        reported_by="carer@example.org",
        reporter_name="Pat Jones",
        sender_known=True,
        match_method="full_name",
        match_confidence=0.9,
        match_note="one child with this full name",
        carer_text="Jordan Carter went out at 7.45 and has not come back.",
        subject_given="Jordan Carter missing",
        attachments=[("photo.jpg", "image/jpeg", 123_456)],
        episode_status="open",
        message_id="abc@mail.example.org",
        inbound_id=17,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def alert(renderer: Renderer, f: AlertFacts, role: str = "social_worker"):
    return renderer.render_alert(f, role=role, recipient_name="Sam Smith")


# -- subjects ------------------------------------------------------------------------


SUBJECTS = {
    "missing": "[MB-2026-00042] MISSING: J.C. (100231) HIGH RISK",
    "update": "[MB-2026-00042] UPDATE: J.C. (100231) HIGH RISK",
    "returned": "[MB-2026-00042] RETURNED: J.C. (100231)",
    "unmatched": "[MB-2026-00042] UNMATCHED REPORT: child not identified HIGH RISK",
    "not_a_report": "NOT A REPORT: message from carer@example.org needs a look",
    "failed": "FAILED: message 17 could not be processed",
    "delivery_failed": "[MB-2026-00042] DELIVERY FAILED: missing alert to social worker"
    " was not delivered",
    "smtp_refusals": "SMTP REFUSALS: 12 messages to our domain refused this hour",
    "triage_summary": "TRIAGE: 2 messages that are not reports (26 Nov 2026 21:00-22:00 GMT)",
    "interview_incomplete": "[MB-2026-00042] INTERVIEW INCOMPLETE: J.C. (100231): the outcome"
    " needs the child's views",
}


def event_facts(event: str) -> AlertFacts:
    if event == "unmatched":
        return facts(
            event=event,
            child_id=None,
            child_first_name=None,
            child_last_name=None,
            match_method="none",
            match_confidence=0.0,
        )
    if event in ("not_a_report", "failed"):
        return facts(event=event, reference=None, error="ValueError: boom")
    if event == "delivery_failed":
        return facts(
            event=event,
            error="550 5.1.1 no such user",
            extra={
                "failed_event": "missing",
                "failed_role": "social_worker",
                "failed_address": "sw@council.example",
                "attempts": "1",
            },
        )
    if event == "interview_incomplete":
        return facts(event=event, extra={"missing_parts": "the child's views"})
    if event == "smtp_refusals":
        return AlertFacts(
            event=event,
            received_at=facts().received_at,
            extra={"refused": "12", "hour": "26 Nov 2026 21:00 GMT", "code 550": "12"},
        )
    if event == "triage_summary":
        return AlertFacts(
            event=event,
            received_at=facts().received_at,
            extra={
                "count": "2",
                "window": "26 Nov 2026 21:00-22:00 GMT",
                "messages": "message 3, 21:04, from a@spam.example: Win\nmessage 4, 21:05, ...",
            },
        )
    return facts(event=event)


def test_every_shipped_event_is_covered() -> None:
    assert set(SUBJECTS) == set(EVENTS)


@pytest.mark.parametrize("event", sorted(SUBJECTS))
def test_subject_per_event_with_initials_only(renderer: Renderer, event: str) -> None:
    out = alert(renderer, event_facts(event))
    assert out.subject == SUBJECTS[event]
    assert "Jordan" not in out.subject and "Carter" not in out.subject
    assert "\n" not in out.subject and "\r" not in out.subject
    assert out.text.strip() and out.html.strip()


def test_subject_without_risk_or_reference(renderer: Renderer) -> None:
    out = alert(renderer, facts(risk_level=None, reference=None))
    assert out.subject == "MISSING: J.C. (100231)"
    low = alert(renderer, facts(risk_level="medium"))
    assert low.subject == "[MB-2026-00042] MISSING: J.C. (100231)"


def test_subject_never_carries_a_full_name_even_from_carer_fields(renderer: Renderer) -> None:
    f = facts(subject_given="Jordan Carter", carer_text="Jordan Carter", reporter_name="Carter")
    for event in (*EVENTS, "escalation"):
        subject = alert(renderer, dataclasses.replace(f, event=event)).subject
        assert "Jordan" not in subject and "Carter" not in subject, subject
    receipt = renderer.render_receipt(f, passed_to=["the duty desk"]).subject
    assert "Jordan" not in receipt and "Carter" not in receipt


def test_crlf_cannot_inject_headers_into_the_subject(renderer: Renderer) -> None:
    f = facts(
        event="not_a_report",
        reference="MB-2026-00042\r\nBcc: evil@example.com",
        reported_by="x@y.example\r\nBcc: evil@example.com\n\nbody",
        subject_given="Help\r\nBcc: evil@example.com",
        message_id="id@x\r\nX-Evil: 1",
    )
    for event in (*EVENTS, "escalation"):
        subject = alert(renderer, dataclasses.replace(f, event=event)).subject
        assert "\r" not in subject and "\n" not in subject, event
        assert not any(ord(ch) < 32 for ch in subject)
    subject = alert(renderer, f).subject
    assert (
        subject == "NOT A REPORT: message from x@y.example Bcc: evil@example.com body needs a look"
    )
    receipt = renderer.render_receipt(f, passed_to=["the duty desk"]).subject
    assert "\n" not in receipt and "\r" not in receipt


# -- bodies --------------------------------------------------------------------------


def test_missing_fields_read_not_stated(renderer: Renderer) -> None:
    out = alert(renderer, facts(police_reference=None, clothing="", risk_notes=None))
    police = next(line for line in out.text.splitlines() if "Police reference:" in line)
    assert police.split(":", 1)[1].strip() == "not stated"
    clothing = next(line for line in out.text.splitlines() if "Clothing:" in line)
    assert clothing.split(":", 1)[1].strip() == "not stated"
    assert ">Police reference</th><td" in out.html
    assert out.html.split(">Police reference</th>", 1)[1].startswith(
        '<td style="padding:4px 6px;border-bottom:1px solid #dddddd;vertical-align:top;'
        'text-align:left;">not stated</td>'
    )


def test_body_carries_facts_match_and_attachments(renderer: Renderer) -> None:
    out = alert(renderer, facts(police_reference="CAD 1234 26/11"))
    for body in (out.text, out.html):
        assert "Jordan Carter" in body  # bodies may name the child; subjects may not
        assert "CAD 1234 26/11" in body
        assert "full name" in body and "90%" in body
        assert "one child with this full name" in body
        assert "photo.jpg" in body and "image/jpeg" in body and "121 KB" in body
        assert "Reply to this email with any update; quote the reference MB-2026-00042" in body
        assert "26 Nov 2026 19:45 GMT" in body
        assert "allocated social worker" in body
        assert "Sam Smith" in body
    assert "> Jordan Carter went out at 7.45 and has not come back." in out.text


def test_times_in_bst_carry_the_zone_name(renderer: Renderer) -> None:
    summer = facts(
        last_seen_at=datetime(2026, 7, 10, 20, 30, tzinfo=UTC),
        received_at=datetime(2026, 7, 10, 21, 5, tzinfo=UTC),
    )
    out = alert(renderer, summer)
    for body in (out.text, out.html):
        assert "10 Jul 2026 21:30 BST" in body
        assert "10 Jul 2026 22:05 BST" in body
    assert format_local(datetime(2026, 11, 26, 21, 30, tzinfo=UTC), LONDON) == (
        "26 Nov 2026 21:30 GMT"
    )
    assert format_local(None, LONDON) == "not stated"


def test_sender_unverified_marked_in_body_not_subject(renderer: Renderer) -> None:
    out = alert(renderer, facts(sender_known=False))
    assert "SENDER UNVERIFIED" in out.text and "SENDER UNVERIFIED" in out.html
    assert "UNVERIFIED" not in out.subject
    known = alert(renderer, facts(sender_known=True))
    assert "UNVERIFIED" not in known.text and "UNVERIFIED" not in known.html


def test_sender_not_verified_is_said_plainly_apart_from_not_on_record(renderer: Renderer) -> None:
    why = "no Authentication-Results header from a trusted mail server"
    out = alert(renderer, facts(sender_verified=False, sender_check=why))
    for body in (out.text, out.html):
        assert "SENDER NOT VERIFIED" in body and why in body
        assert "acted on as a report" in body
        assert "SENDER UNVERIFIED" not in body  # a known carer: only the check failed
    assert "NOT VERIFIED" not in out.subject
    assert f"Sender check:           NOT VERIFIED: {why}" in out.text
    verified = alert(
        renderer, facts(sender_verified=True, sender_check="dmarc=pass reported by mx")
    )
    assert "NOT VERIFIED" not in verified.text and "verified: dmarc=pass" in verified.text
    unchecked = alert(renderer, facts())  # no check applies (e.g. a delivery failure)
    assert "NOT VERIFIED" not in unchecked.text and "Sender check" not in unchecked.text
    ignored = alert(
        renderer,
        facts(event="not_a_report", reference=None, sender_verified=False, sender_check=why),
        role="duty",
    )
    assert "SENDER NOT VERIFIED" in ignored.text and "acted on as a report" not in ignored.text


def test_notes_from_facts_and_recipient_are_shown(renderer: Renderer) -> None:
    out = renderer.render_alert(
        facts(note="no IRO on record: duty alerted instead"),
        role="duty",
        recipient_name=None,
        note="<i>also this</i>",
    )
    assert "NOTE: no IRO on record: duty alerted instead" in out.text
    assert "&lt;i&gt;also this&lt;/i&gt;" in out.html
    assert out.text.startswith("Hello,")


def test_unmatched_body_shows_the_name_given(renderer: Renderer) -> None:
    out = alert(renderer, event_facts("unmatched"))
    assert "Jordan Carter" in out.text  # as the carer wrote it, in the body only
    assert "please identify the child" in out.text
    assert "no child in the directory matched" in out.text


def test_failed_and_delivery_failed_show_the_error(renderer: Renderer) -> None:
    failed = alert(renderer, event_facts("failed"), role="duty")
    assert "ValueError: boom" in failed.text and "ValueError: boom" in failed.html
    undelivered = alert(renderer, event_facts("delivery_failed"), role="address")
    for body in (undelivered.text, undelivered.html):
        assert "550 5.1.1 no such user" in body and "sw@council.example" in body
    assert undelivered.text.count("sw@council.example") == 1  # not repeated under extras


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.depth: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.depth[tag] = self.depth.get(tag, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        self.depth[tag] = self.depth.get(tag, 0) - 1


@pytest.mark.parametrize("event", [*sorted(SUBJECTS), "escalation"])
def test_template_injection_is_inert(renderer: Renderer, event: str) -> None:
    f = dataclasses.replace(
        event_facts(event),
        carer_text=HOSTILE,
        subject_given="{{ 7*7 }} <script>x</script>",
        description="<img src=x onerror=alert(1)> {{ 6*6 }}",
        reporter_name="{% raw %}",
    )
    out = alert(renderer, f)
    # text: literally, quoted line by line
    assert "> {{ 7*7 }} and {% raw %} and {{ config }}" in out.text
    assert "> <script>alert(1)</script> <b>bold</b>" in out.text
    assert "> </blockquote><p>after</p>" in out.text
    assert "> {% for x in range(3) %}loop{% endfor %}" in out.text
    assert "49" not in out.text and "looploop" not in out.text
    # HTML: escaped, inside one blockquote, nothing live
    parser = _Tags()
    parser.feed(out.html)
    assert "script" not in parser.tags and "img" not in parser.tags and "b" not in parser.tags
    assert parser.tags.count("blockquote") == 1 and parser.depth["blockquote"] == 0
    assert out.html.count("</blockquote>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
    assert "&lt;b&gt;bold&lt;/b&gt;" in out.html
    assert "&lt;/blockquote&gt;&lt;p&gt;after&lt;/p&gt;" in out.html
    assert "{{ 7*7 }} and {% raw %} and {{ config }}<br>" in out.html
    assert "49" not in out.html and "36" not in out.html and "looploop" not in out.html
    assert "<script" not in out.html.lower()


def test_receipt_is_injection_safe(renderer: Renderer) -> None:
    f = facts(reporter_name="<script>alert(1)</script> {{ 7*7 }}")
    out = renderer.render_receipt(f, passed_to=["<b>x</b>"])
    assert "<script" not in out.html and "&lt;script&gt;" in out.html
    assert "&lt;b&gt;x&lt;/b&gt;" in out.html and "49" not in out.html + out.text


# -- template choice -----------------------------------------------------------------


def test_unknown_event_falls_back_to_default(renderer: Renderer) -> None:
    out = alert(renderer, facts(event="escalation"))
    assert out.subject == "[MB-2026-00042] ESCALATION: J.C. (100231) HIGH RISK"
    assert "ESCALATION: MB-2026-00042" in out.text
    assert "Police reference" in out.html
    weird = alert(renderer, facts(event="../missing"))
    assert weird.subject.startswith("[MB-2026-00042] ../MISSING")  # default set, not a path
    reminder = alert(renderer, facts(event="return_interview_due", reference=None))
    assert reminder.subject == "RETURN INTERVIEW DUE: J.C. (100231) HIGH RISK"


def test_override_directory_takes_precedence(tmp_path: Path) -> None:
    (tmp_path / "missing.subject.txt").write_text(
        "{{ reference }} LOCAL MISSING {{ child_initials }}\n"
    )
    (tmp_path / "missing.txt").write_text("Local body: {{ carer_text }} / {{ child_name }}\n")
    r = Renderer(tz=LONDON, override_dir=tmp_path)
    out = alert(r, facts(carer_text="{{ 7*7 }}"))
    assert out.subject == "MB-2026-00042 LOCAL MISSING J.C."
    assert out.text == "Local body: {{ 7*7 }} / Jordan Carter\n"
    assert "What the sender wrote" in out.html  # not overridden: packaged
    assert alert(r, facts(event="returned")).subject == "[MB-2026-00042] RETURNED: J.C. (100231)"


def test_override_laid_out_like_templates_folder(tmp_path: Path) -> None:
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "default.subject.txt").write_text("LOCAL {{ event_label }}")
    r = Renderer(tz=LONDON, override_dir=tmp_path)
    assert alert(r, facts(event="escalation")).subject == "LOCAL ESCALATION"


def test_subject_override_cannot_reach_full_names(tmp_path: Path) -> None:
    (tmp_path / "missing.subject.txt").write_text("{{ child_first_name }}")
    r = Renderer(tz=LONDON, override_dir=tmp_path)
    # StrictUndefined: the name is not there to print, so the packaged subject is used
    out = alert(r, facts())
    assert out.subject == SUBJECTS["missing"]
    assert r.check() and r.check()[0].startswith("missing: UndefinedError")


def test_broken_override_falls_back_to_packaged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "missing.txt").write_text("{{ no_such_field }}")
    (tmp_path / "update.html").write_text("{% if %}")
    r = Renderer(tz=LONDON, override_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="mailbridge.alerts.render"):
        out = alert(r, facts())
    assert "MISSING - HIGH RISK: MB-2026-00042" in out.text
    assert "override template for missing failed" in caplog.text
    assert "Jordan" not in caplog.text  # the failure is named, never the content
    assert alert(r, facts(event="update")).html.startswith("<!DOCTYPE html>")
    problems = r.check()
    assert [p.split(":")[0] for p in problems] == ["missing", "update"]


def test_sandbox_blocks_unsafe_override(tmp_path: Path) -> None:
    (tmp_path / "default.txt").write_text("{{ extra.__class__.__mro__ }}")
    r = Renderer(tz=LONDON, override_dir=tmp_path)
    out = alert(r, facts(event="escalation"))
    assert "mro" not in out.text and "ESCALATION" in out.text


def test_packaged_templates_check_clean(renderer: Renderer) -> None:
    assert renderer.check() == []


# -- receipts ------------------------------------------------------------------------


def test_receipt_matched_wording(renderer: Renderer) -> None:
    out = renderer.render_receipt(facts(), passed_to=["the allocated social worker"])
    assert (
        "Your report about J.C. was received at 20:04, reference MB-2026-00042, "
        "and passed to the allocated social worker." in out.text
    )
    assert "Your report about J.C. was received at 20:04" in out.html
    assert out.subject == "[MB-2026-00042] Report received: J.C."
    assert "Jordan" not in out.text + out.html and "Carter" not in out.text + out.html
    assert "Oak House" not in out.text  # no other child data to the sender


def test_receipt_unmatched_wording(renderer: Renderer) -> None:
    f = event_facts("unmatched")
    out = renderer.render_receipt(
        dataclasses.replace(f, reference="MB-2026-00043"), passed_to=["the duty desk"]
    )
    assert (
        "Your report about the child you named was received at 20:04, reference "
        "MB-2026-00043, and passed to the duty desk." in out.text
    )
    assert out.subject == "[MB-2026-00043] Report received"


def test_receipt_to_unknown_sender_gives_no_initials(renderer: Renderer) -> None:
    out = renderer.render_receipt(
        facts(sender_known=False), passed_to=["the allocated social worker", "the duty desk"]
    )
    assert (
        "Your report about the child you named was received at 20:04, reference "
        "MB-2026-00042, and passed to the allocated social worker and the duty desk." in out.text
    )
    assert "J.C." not in out.subject + out.text + out.html


def test_receipt_time_is_local_in_summer(renderer: Renderer) -> None:
    out = renderer.render_receipt(
        facts(received_at=datetime(2026, 7, 1, 19, 4, tzinfo=UTC)), passed_to=[]
    )
    assert "received at 20:04, reference MB-2026-00042, and passed to the duty desk." in out.text


# -- helpers -------------------------------------------------------------------------


def test_helpers() -> None:
    assert initials("Jordan", "Carter") == "J.C."
    assert initials("  élodie", "O'Neil") == "É.O."
    assert initials(None, None) == ""
    assert human_list(["a"]) == "a"
    assert human_list(["a", "b", "c"]) == "a, b and c"
    assert one_line("a\r\nb\x00c\u2028d") == "a b c d"


def test_delivery_failed_with_note_only(renderer: Renderer) -> None:
    f = AlertFacts(
        event="delivery_failed",
        received_at=RECEIVED,
        reference="MB-2026-00042",
        note="social_worker <sw@council.example> was not sent",
        error="550 no such user",
    )
    out = renderer.render_alert(f, role="fallback", recipient_name=None)
    assert (
        out.subject == "[MB-2026-00042] DELIVERY FAILED: an alert to a recipient was not delivered"
    )
    for body in (out.text, out.html):
        assert "sw@council.example" in body and "550 no such user" in body
        assert "UNVERIFIED" not in body and "fallback address" in body


# -- one event, many recipients ------------------------------------------------------


RECIPIENTS = [
    ("social_worker", "Sam Smith", None),
    ("iro", "Ruth Okafor", "routing note for the IRO"),
    ("apprentice", None, None),
    ("team_manager", "Tess Manager", None),
    ("edt", None, "out of hours"),
    ("host_authority", "Leeds missing team", None),
    ("police", None, None),
]


@pytest.mark.parametrize("event", [*EVENTS, "escalation"])
def test_rendering_for_all_recipients_at_once_gives_each_one_their_own_email(
    renderer: Renderer, event: str
) -> None:
    """The batch shares the facts table and the subject; every email is still exactly the
    one rendered for that recipient alone."""
    f = event_facts(event)
    together = renderer.render_alerts(f, RECIPIENTS)
    alone = [
        renderer.render_alert(f, role=role, recipient_name=name, note=note)
        for role, name, note in RECIPIENTS
    ]
    assert together == alone
    # ...and the shared parts did not leak one recipient into another's email.
    assert "Ruth Okafor" in together[1].html and "Ruth Okafor" not in together[0].html
    assert "routing note for the IRO" not in together[3].text


def test_a_facts_table_override_is_used_by_the_batch_and_named_when_it_needs_the_recipient(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "_facts.txt").write_text("OUR TABLE: {{ reference }}\n")
    r = Renderer(tz=LONDON, override_dir=tmp_path)
    together = r.render_alerts(facts(), RECIPIENTS[:2])
    assert all("OUR TABLE: MB-2026-00042" in out.text for out in together)
    assert r.check() == []
    # The table is rendered once per event, so it is not given the recipient: an override
    # that reads it falls back to the packaged table, and check-config names it.
    (tmp_path / "_facts.txt").write_text("TABLE FOR {{ recipient_name }}\n")
    r = Renderer(tz=LONDON, override_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="mailbridge.alerts.render"):
        out = r.render_alerts(facts(), RECIPIENTS[:1])[0]
    assert "TABLE FOR" not in out.text and "MB-2026-00042" in out.text
    assert "override template for missing failed" in caplog.text
    assert r.check() and r.check()[0].startswith("missing: UndefinedError")
