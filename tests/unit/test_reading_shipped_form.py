"""The shipped form, copied whole and filled in as it instructs (issue 13, unsafe error 1)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mailbridge.reading import ReportFields, classify, extract_fields, read_message
from tests.support.forms import FORM, filled

LONDON = ZoneInfo("Europe/London")
MISSING_ANSWERS = {
    "Child ID:": "100231",
    "Child's name:": "Jordan Carter",
    "Date of birth:": "14/03/2011",
    "Placement:": "Elm Road",
    "Date and time last seen:": "26/11/2026 21:30",
    "Where last seen:": "his bedroom",
    "Police informed:": "Yes",
    "Police reference:": "log 1123 of 26/11/2026",
    "Risk level:": "High",
    "Reported by:": "Sue Carter",
    "Phone:": "07700 900123",
}
RETURN_ANSWERS = {
    "Child ID:": "100231",
    "Child's name:": "Jordan Carter",
    "Date and time returned:": "27/11/2026 01:10",
    "Returned by:": "Police",
    "Safe and well:": "Yes",
    "Reported by:": "Sue Carter",
}




def mail(body: str, subject: str = "Missing child report", sent: str = "Thu, 26 Nov 2026 "
         "23:05:00 +0000") -> bytes:
    return (f"From: Sue Carter <sue.carter@example.org>\nTo: missing@council.example\n"
            f"Subject: {subject}\nDate: {sent}\nContent-Type: text/plain; charset=utf-8\n\n"
            f"{body}").encode()


def read(raw: bytes, received: datetime) -> tuple[str, ReportFields]:
    msg = read_message(raw)
    fields = extract_fields(msg, tz=LONDON, received_at=received)
    return classify(msg, fields).kind, fields


def test_the_whole_form_with_only_the_missing_part_filled_is_a_missing_report() -> None:
    text = FORM.read_text(encoding="utf-8")
    assert "--- RETURN" in text and "Safe and well:" in text  # the form as shipped
    kind, fields = read(mail(filled("MISSING", MISSING_ANSWERS, text)),
                        datetime(2026, 11, 26, 23, 6, tzinfo=UTC))
    assert kind == "missing"
    assert fields.returned_at is None
    assert fields.safe_and_well is None
    assert fields.returned_by is None
    assert fields.form_report_type == "missing"
    assert fields.last_seen_at == datetime(2026, 11, 26, 21, 30, tzinfo=UTC)
    assert fields.sources["last_seen"] == "Date and time last seen: 26/11/2026 21:30"


def test_the_whole_form_unfilled_asserts_nothing() -> None:
    kind, fields = read(mail(FORM.read_text(encoding="utf-8")),
                        datetime(2026, 11, 26, 23, 6, tzinfo=UTC))
    assert kind != "returned"
    assert fields.safe_and_well is None


def test_the_return_part_sent_alone_is_a_return() -> None:
    text = FORM.read_text(encoding="utf-8")
    part = "--- RETURN" + text.split("--- RETURN", 1)[1]
    kind, fields = read(mail(filled("RETURN", RETURN_ANSWERS, part), subject="Re: Missing child "
                             "report", sent="Fri, 27 Nov 2026 01:30:00 +0000"),
                        datetime(2026, 11, 27, 1, 31, tzinfo=UTC))
    assert kind == "returned"
    assert fields.returned_at == datetime(2026, 11, 27, 1, 10, tzinfo=UTC)
    assert fields.safe_and_well is True
    assert fields.child_id == "100231"


def test_the_whole_form_with_both_parts_filled_is_a_return_after_the_fact() -> None:
    text = filled("RETURN", RETURN_ANSWERS, filled("MISSING", MISSING_ANSWERS,
                                                   FORM.read_text(encoding="utf-8")))
    kind, fields = read(mail(text, sent="Fri, 27 Nov 2026 01:30:00 +0000"),
                        datetime(2026, 11, 27, 1, 31, tzinfo=UTC))
    assert kind == "returned"
    assert fields.last_seen_at == datetime(2026, 11, 26, 21, 30, tzinfo=UTC)
