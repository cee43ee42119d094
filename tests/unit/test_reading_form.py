"""The council form: label variants, the shipped template, and blank answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbridge.reading.form import LABELS, normalise_label, parse_form

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "carer-report-form.txt"


@pytest.mark.parametrize(
    ("label", "field"),
    [
        ("Child's name", "full_name"),
        ("Child’s Name", "full_name"),
        ("NAME OF YOUNG PERSON", "full_name"),
        ("Name", "full_name"),
        ("Date of birth", "date_of_birth"),
        ("DOB", "date_of_birth"),
        ("D.O.B.", "date_of_birth"),
        ("Last seen", "last_seen"),
        ("Time last seen", "last_seen"),
        ("Date and time last seen", "last_seen"),
        ("Date/time last seen", "last_seen"),
        ("Where last seen", "last_seen_location"),
        ("Last seen at", "last_seen_location"),
        ("Location", "last_seen_location"),
        ("Police ref", "police_reference"),
        ("Police reference", "police_reference"),
        ("Log number", "police_reference"),
        ("Crime reference", "police_reference"),
        ("Risk", "risk_level"),
        ("Risk level", "risk_level"),
        ("Risk assessment", "risk_level"),
        ("Description", "description"),
        ("Clothing", "clothing"),
        ("Wearing", "clothing"),
        ("Reported by", "reporter_name"),
        ("Your name", "reporter_name"),
        ("Phone", "reporter_phone"),
        ("Contact number", "reporter_phone"),
        ("Tel", "reporter_phone"),
        ("Returned at", "returned_at"),
        ("Time returned", "returned_at"),
        ("Date and time returned", "returned_at"),
        ("Returned by", "returned_by"),
        ("Found by", "returned_by"),
        ("Brought back by", "returned_by"),
        ("Safe and well", "safe_and_well"),
        ("Safe & well?", "safe_and_well"),
        ("Child ID", "child_id"),
    ],
)
def test_label_variants(label: str, field: str) -> None:
    assert LABELS[normalise_label(label)] == field


def test_parse_form_reads_values_and_skips_blanks() -> None:
    text = (
        "Child's name:  Jordan Carter\n"
        " * D.O.B - 14/03/2011\n"
        "DOB: 14/03/2011\n"
        "Police ref: N/A\n"
        "Wearing:\n"
        "black jacket,\n"
        "grey joggers\n"
        "\n"
        "Safe and well? Yes\n"
        "Date last seen: 26/11/2026\n"
        "Time last seen: 21:30\n"
        "Something else: ignored\n"
    )
    assert parse_form(text) == {
        "full_name": "Jordan Carter",
        "date_of_birth": "14/03/2011",
        "clothing": "black jacket, grey joggers",
        "safe_and_well": "Yes",
        "last_seen": "26/11/2026 21:30",
    }


def test_blank_template_parses_to_nothing() -> None:
    assert parse_form(TEMPLATE.read_text(encoding="utf-8")) == {}


def test_every_template_label_is_known() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    body = text.split("--- MISSING", 1)[1]
    labels = [line.split(":", 1)[0] for line in body.splitlines() if line.endswith(":")]
    assert labels
    for label in labels:
        assert normalise_label(label) in LABELS, label


def test_filled_template_parses() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    missing = text.split("--- RETURN", 1)[0]
    filled = (
        missing.replace("Child ID:", "Child ID: 100231")
        .replace("Child's name:", "Child's name: Jordan Carter")
        .replace("Date and time last seen:", "Date and time last seen: 26/11/2026 21:30")
        .replace("Police reference:", "Police reference: CAD 4512")
        .replace("Risk level:", "Risk level: High")
    )
    form = parse_form(filled)
    assert form == {
        "child_id": "100231",
        "full_name": "Jordan Carter",
        "last_seen": "26/11/2026 21:30",
        "police_reference": "CAD 4512",
        "risk_level": "High",
    }


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_parse_form_never_raises(text: str) -> None:
    assert isinstance(parse_form(text), dict)
