"""find_police_reference: UK styles in, phone numbers, child IDs and dates out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbridge.reading.police import find_police_reference


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Police informed, log 1123 of 26/11/2026.", "log 1123 of 26/11/2026"),
        ("They gave me Log No. 212 of 27/11/26", "log 212 of 27/11/2026"),
        ("CAD 4512", "CAD 4512"),
        ("police said the cad number is 0987", "CAD 0987"),
        ("police ref 26000123456", "26000123456"),
        ("ref 26000123456", "26000123456"),
        ("Police reference: PR/26/99812", "PR/26/99812"),
        ("crime ref 12/34567/26", "12/34567/26"),
        ("Crime reference number: 12/34567/26", "12/34567/26"),
        ("incident number 0456", "0456"),
        ("Occurrence number 0987654", "0987654"),
        ("ref no 55512", "55512"),
        ("police reference: nk/12345", "NK/12345"),
        ("police ref 4471 of 29/11/2026", "log 4471 of 29/11/2026"),
        ("reported to police log 345 today", "log 345"),
    ],
)
def test_uk_styles(text: str, expected: str) -> None:
    assert find_police_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "call me on 07700 900123",
        "ref 07700900123",
        "Child ref 100231",
        "Child ID: 100231",
        "DOB 14/03/2011",
        "police ref: 26/11/2026",
        "your ref MB-2026-00042",
        "with reference to your email",
        "We have called 101 and are waiting for a reference.",
        "the police came at 10",
    ],
)
def test_not_a_police_reference(text: str) -> None:
    assert find_police_reference(text) is None


def test_known_child_id_is_ignored() -> None:
    assert find_police_reference("ref: 100231", ignore=["100231"]) is None
    assert find_police_reference("ref: 100231") == "100231"


def test_earliest_reference_wins() -> None:
    text = "CAD 4512 at first, later crime ref 12/34567/26"
    assert find_police_reference(text) == "CAD 4512"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_never_raises(text: str) -> None:
    result = find_police_reference(text)
    assert result is None or result.strip()
