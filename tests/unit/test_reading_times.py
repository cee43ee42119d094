"""Time readers (issue 13): wider phrases, and never a time after the email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbridge.reading.fields import extract_fields, parse_when, read_when
from mailbridge.reading.message import read_message

LONDON = ZoneInfo("Europe/London")
EVENING = datetime(2026, 12, 7, 22, 10, tzinfo=LONDON)
EARLY = datetime(2026, 12, 4, 6, 0, tzinfo=LONDON)


def test_a_clock_time_later_than_the_email_is_not_read_as_nearly_a_day_before() -> None:
    # sent at 22:10: "quarter to midnight" with no day has not happened yet; yesterday's 23:45,
    # 22 hours before the news, is a guess (the carer would say "last night"), so no time
    assert parse_when("quarter to midnight", EVENING) is None
    assert read_when("quarter to midnight", EVENING)[1]  # dropped, with the reason
    assert parse_when("quarter to midnight last night", EVENING) == (
        EVENING - timedelta(days=1)).replace(hour=23, minute=45)


@pytest.mark.parametrize(
    ("phrase", "hour", "minute", "days_back"),
    [
        ("half eight", 20, 30, 0),
        ("about half 3", 15, 30, 0),
        ("twenty to 5", 16, 40, 0),
        ("ten past nine", 21, 10, 0),
        ("twenty-five to seven", 18, 35, 0),
        ("just after 11", 11, 0, 0),
        ("before school", 8, 0, 0),
        ("teatime", 17, 0, 0),
        ("in the early hours", 3, 0, 0),
        ("in the early hours, about 2", 2, 0, 0),
        ("I last saw him at 6pm", 18, 0, 0),
        ("police picked her up at 11.45 last night", 23, 45, 1),
    ],
)
def test_wider_time_phrases(phrase: str, hour: int, minute: int, days_back: int) -> None:
    got = parse_when(phrase, EVENING)
    want = (EVENING - timedelta(days=days_back)).replace(hour=hour, minute=minute)
    assert got == want


def test_a_time_this_morning_after_the_email_is_dropped_with_a_reason() -> None:
    got, why = read_when("came back at 8.15 this morning", EARLY)
    assert got is None
    assert why is not None and "later than the email" in why


def test_today_1930_in_mail_sent_at_0537_is_dropped() -> None:
    base = datetime(2026, 12, 16, 5, 37, tzinfo=LONDON)
    assert read_when("today 19:30", base)[0] is None
    assert read_when("14:45 today", datetime(2026, 11, 27, 7, 30, tzinfo=LONDON))[0] is None


def test_a_bare_time_the_words_allow_on_the_previous_day_is_read_so() -> None:
    assert parse_when("at 8.15", EARLY) == datetime(2026, 12, 3, 20, 15, tzinfo=LONDON)


@settings(max_examples=300, deadline=None)
@given(
    base=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31),
                      timezones=st.just(LONDON)),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    words=st.sampled_from(["", " today", " this morning", " tonight", " last night",
                           " yesterday", " this evening"]),
    style=st.sampled_from(["{h}:{m:02d}", "{h}.{m:02d}", "at {h12}{ampm}", "around {h12}",
                           "half {h12}", "quarter to {h12}", "twenty past {h12}"]),
)
def test_no_time_after_the_base_is_ever_returned(
    base: datetime, hour: int, minute: int, words: str, style: str
) -> None:
    h12 = hour % 12 or 12
    phrase = style.format(h=hour, m=minute, h12=h12, ampm="pm" if hour >= 12 else "am") + words
    got, _why = read_when(phrase, base)
    assert got is None or got <= base + timedelta(minutes=15)


@settings(max_examples=200, deadline=None)
@given(sent=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31),
                         timezones=st.just(UTC)),
       hour=st.integers(0, 23), minute=st.integers(0, 59))
def test_extract_fields_never_stores_a_time_after_receipt(
    sent: datetime, hour: int, minute: int
) -> None:
    date = sent.strftime("%a, %d %b %Y %H:%M:%S +0000")
    body = (f"Jordan went out at {hour}:{minute:02d} today and has not come back. "
            f"Update: he came back at {(hour + 1) % 24}:{minute:02d} this morning.")
    raw = (f"From: a@example.org\nTo: m@example.org\nSubject: Jordan\nDate: {date}\n\n{body}\n")
    fields = extract_fields(read_message(raw.encode()), tz=LONDON, received_at=sent)
    for at in (fields.last_seen_at, fields.returned_at):
        assert at is None or at <= sent + timedelta(minutes=15)
    if fields.returned_at and fields.last_seen_at:
        assert fields.returned_at >= fields.last_seen_at


def _doubts(body: str) -> tuple[str, ...]:
    raw = (f"From: a@example.org\nTo: m@example.org\nSubject: KJ\n"
           f"Date: Thu, 14 Jan 2027 23:30:00 +0000\n\n{body}\n").encode()
    received = datetime(2027, 1, 14, 23, 31, tzinfo=UTC)
    return extract_fields(read_message(raw), tz=LONDON, received_at=received).doubts


def test_two_candidate_times_are_a_doubt() -> None:
    assert _doubts("Staff say he left at 19:00, but the CCTV shows him at the gate at 20:15.")
    assert _doubts("KJ went out at 8 or 9, not sure. Not back.")
    assert not _doubts("He went to bed at 10 and I checked on him at 11, bed empty at 7.")
