"""Police references (issue 13): control-room logs with short dates, numbers given on the phone,
force incident numbers; and never a phone number."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbridge.reading.police import find_police_reference


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("police informed, log 2204 of 03/02", "log 2204 of 03/02"),
        ("Police log 0412 of 5th June, officer attending", "log 0412 of 5th June"),
        ("log 1876 of 4th December.", "log 1876 of 4th December"),
        ("log 1123 of 26/11/2026", "log 1123 of 26/11/2026"),
        ("I rang 101, the number they gave me was 58213.", "58213"),
        ("they gave us the reference 4471", "4471"),
        ("Police informed, incident number 44260112345 (quote this)", "44260112345"),
        ("Police informed, ref 44260117788.", "44260117788"),
        ("police said 260112345678 is their number for it", "260112345678"),
        ("CAD 4512", "CAD 4512"),
    ],
)
def test_references(text: str, want: str) -> None:
    assert find_police_reference(text) == want


@pytest.mark.parametrize(
    "text",
    [
        "call me on 07700900456 any time",
        "my mobile is 447700900456, police know",
        "DOB 02/09/2012",
        "we bought 12345678901 raffle tickets",  # a long number, but nothing about the police
    ],
)
def test_not_references(text: str) -> None:
    assert find_police_reference(text) is None


@settings(max_examples=200, deadline=None)
@given(log=st.integers(1, 9999), day=st.integers(1, 28), month=st.integers(1, 12),
       words=st.booleans())
def test_any_log_with_a_short_date(log: int, day: int, month: int, words: bool) -> None:
    months = ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"]
    when = f"{day}th {months[month - 1]}" if words else f"{day:02d}/{month:02d}"
    got = find_police_reference(f"Police are aware, log {log:04d} of {when}. Thanks")
    assert got == f"log {log:04d} of {when}"


@settings(max_examples=200, deadline=None)
@given(number=st.integers(10**10, 10**14 - 1))
def test_any_force_incident_number(number: int) -> None:
    text = f"We reported her to the police and the incident number is {number}."
    assert find_police_reference(text) == str(number)


@settings(max_examples=200, deadline=None)
@given(digits=st.text(alphabet="0123456789", min_size=9, max_size=10))
def test_a_uk_phone_number_is_never_a_reference(digits: str) -> None:
    for phone in (f"0{digits}", f"+44{digits}"):
        assert find_police_reference(f"Police informed. Ring me on {phone} tonight") is None


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # the control room's day written after the number stays with it
        ("we reported both to police (ref 1903 11NOV27).", "1903 11NOV27"),
        ("Police incident 0611 22/01/27.", "0611 22/01/27"),
        ("I rang 101 at 6.15 and was given CAD 5521 of 12/03/2027.", "CAD 5521 of 12/03/2027"),
        ("The reference they gave me is CAD 2231/18Dec.", "CAD 2231/18Dec"),
        ("Police: Informed 15:00 - ref CAD 2207/11JUL27", "CAD 2207/11JUL27"),
        ("CAD 5521 of 12/03/27 given", "CAD 5521 of 12/03/2027"),
        # no day after it: the number alone, and a CAD number before a word is not run on
        ("Police incident 0611. She was seen at 22:01.", "0611"),
        ("CAD 4512 and the officer will call", "CAD 4512"),
        ("Police ref 4471 14 officers searched", "4471"),
    ],
)
def test_a_reference_keeps_the_day_written_after_it(text: str, want: str) -> None:
    assert find_police_reference(text) == want
