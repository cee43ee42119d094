"""extract_fields and its time rules: relative phrases, UK dates, BST/GMT, the base time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbridge.reading.fields import (
    ReportFields,
    extract_fields,
    parse_date_only,
    parse_when,
    reference_time,
    without_absence_type,
)
from mailbridge.reading.message import ReadMessage

LONDON = ZoneInfo("Europe/London")
WINTER = datetime(2026, 11, 27, 7, 30, tzinfo=LONDON)  # a Friday, GMT
SUMMER = datetime(2026, 7, 14, 9, 0, tzinfo=LONDON)  # a Tuesday, BST


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("went to bed around 10 last night", utc(2026, 11, 26, 22)),
        ("at ten last night", utc(2026, 11, 26, 22)),
        ("about half past nine last night", utc(2026, 11, 26, 21, 30)),
        ("last night at 1am", utc(2026, 11, 27, 1)),
        ("around 12 last night", utc(2026, 11, 27, 0)),
        ("14:45 today", utc(2026, 11, 27, 14, 45)),
        ("at 9pm", utc(2026, 11, 26, 21)),
        ("at 9", utc(2026, 11, 26, 21)),
        ("this morning at 6:15", utc(2026, 11, 27, 6, 15)),
        ("yesterday evening about 7", utc(2026, 11, 26, 19)),
        ("9.30pm yesterday", utc(2026, 11, 26, 21, 30)),
        ("26/11/2026 21:30", utc(2026, 11, 26, 21, 30)),
        ("26.11.26 at 21.30", utc(2026, 11, 26, 21, 30)),
        ("2026-11-26 21:30", utc(2026, 11, 26, 21, 30)),
        ("Tuesday 24th November at 8pm", utc(2026, 11, 24, 20)),
        ("21.30 on Tuesday", utc(2026, 11, 24, 21, 30)),
        ("on 26 Nov at 10:15", utc(2026, 11, 26, 10, 15)),
        ("at 2130hrs", utc(2026, 11, 26, 21, 30)),
        ("midnight", utc(2026, 11, 27, 0)),
    ],
)
def test_parse_when_winter(phrase: str, expected: datetime) -> None:
    got = parse_when(phrase, WINTER)
    assert got is not None
    assert got.astimezone(UTC) == expected


@pytest.mark.parametrize("phrase", ["yesterday", "26/11/2026", "no time here", "", "aged 15"])
def test_parse_when_needs_a_time_of_day(phrase: str) -> None:
    assert parse_when(phrase, WINTER) is None


def test_bst_nine_pm_is_twenty_hundred_utc() -> None:
    got = parse_when("last seen 9pm", SUMMER)
    assert got is not None
    assert got.astimezone(UTC) == utc(2026, 7, 13, 20)
    got = parse_when("last seen 9pm", WINTER)
    assert got is not None
    assert got.astimezone(UTC) == utc(2026, 11, 26, 21)


def test_reference_time_prefers_a_plausible_date_header() -> None:
    received = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    sent = received - timedelta(hours=1)
    assert reference_time(sent, received, LONDON) == sent
    assert reference_time(None, received, LONDON) == received
    assert reference_time(received + timedelta(days=1), received, LONDON) == received
    assert reference_time(received - timedelta(days=30), received, LONDON) == received
    naive = reference_time(None, datetime(2026, 11, 27, 8, 0), LONDON)
    assert naive.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14/03/2011", date(2011, 3, 14)),
        ("14.3.11", date(2011, 3, 14)),
        ("14th March 2011", date(2011, 3, 14)),
        ("March 14, 2011", date(2011, 3, 14)),
        ("2011-03-14", date(2011, 3, 14)),
        ("31/02/2011", None),
        ("not given", None),
    ],
)
def test_parse_date_only(text: str, expected: date | None) -> None:
    assert parse_date_only(text, WINTER) == expected


def _read(text: str, subject: str = "", **kw: object) -> ReportFields:
    msg = ReadMessage(subject=subject, text=text, date=WINTER, **kw)  # type: ignore[arg-type]
    return extract_fields(msg, tz=LONDON, received_at=WINTER + timedelta(minutes=1))


def test_free_text_report() -> None:
    f = _read(
        "Hi, Jordan Carter (ID 100231) went to bed around 10 last night and this morning his "
        "bed was empty. Last seen in his room. He was wearing a black hoodie. Police ref CAD "
        "4512. He is high risk, we are worried about exploitation. Call 07700 900123.\n\n"
        "Thanks\nSue Carter"
    )
    assert f.child_id == "100231"
    assert f.full_name == "Jordan Carter"
    assert f.first_name == "Jordan"
    assert f.last_seen_at == utc(2026, 11, 26, 22)
    assert f.last_seen_location == "his room"
    assert f.clothing == "a black hoodie"
    assert f.police_reference == "CAD 4512"
    assert f.risk_level == "high"
    assert f.risk_notes is not None and "exploitation" in f.risk_notes
    assert f.reporter_phone == "07700 900123"
    assert f.reporter_name == "Sue Carter"


def test_child_id_styles() -> None:
    assert _read("", subject="Jordan (100231) missing").child_id == "100231"
    assert _read("ID 100231").child_id == "100231"
    assert _read("Child ID: 100231").child_id == "100231"
    assert _read("call 07700 900123").child_id is None
    assert _read("crime ref 12/100231/26").child_id is None


def test_return_fields() -> None:
    f = _read("Jordan came back at 01:20 this morning, brought home by the police. Safe and well.")
    assert f.returned_at == utc(2026, 11, 27, 1, 20)
    assert f.returned_by == "the police"
    assert f.safe_and_well is True


def test_negated_return_is_not_a_return_time() -> None:
    f = _read("Jordan has not returned. He was due back at 4pm.")
    assert f.returned_at is None
    assert f.safe_and_well is None


def test_a_return_time_is_not_a_last_seen_time() -> None:
    # written at 07:30 on Friday 27 Nov: she came back at 6pm on the 26th
    f = _read("Chloe, who was missing since Wednesday, has come back home at 6pm.")
    assert f.returned_at == utc(2026, 11, 26, 18)
    assert f.last_seen_at is None
    f = _read("Jordan left at 7pm and came back at 11pm.")
    assert (f.last_seen_at, f.returned_at) == (utc(2026, 11, 26, 19), utc(2026, 11, 26, 23))


def test_not_safe_and_well() -> None:
    assert _read("Jordan returned at 2am but is not safe and well").safe_and_well is False
    assert _read("Returned at 2am, injured, taken to hospital").safe_and_well is False


def test_form_wins_over_free_text() -> None:
    f = _read("Child's name: Jordan Carter\nRisk level: Low\nAlex is high risk")
    assert f.full_name == "Jordan Carter"
    assert f.risk_level == "low"
    assert f.form_used


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # form lines: the form wins, and the answer may sit on the line below
        ("Absence type: A", "A"),
        ("Absence type: m", "M"),
        ("Missing or away: away", "A"),
        ("Missing / away: Missing", "M"),
        ("Type of absence:\nAway from placement without authorisation\n\nThanks", "A"),
        ("Absence type: A\nPlease reclassify as missing", "A"),
        # plain phrases about the classification itself
        ("This was an absence / away from placement, not missing.", "A"),
        ("Please reclassify as missing.", "M"),
        ("Can you reclassify this as away please", "A"),
        ("Please record this as an absence, thanks", "A"),
        ("He was absent rather than missing.", "A"),
        ("Not missing, just away from placement.", "A"),
        ("She is missing, not away from placement.", "M"),
        ("This is not an absence, she is missing.", "M"),
    ],
)
def test_absence_type_from_form_and_phrases(text: str, expected: str) -> None:
    assert _read(text).absence_type == expected


@pytest.mark.parametrize(
    "text",
    [
        "Jordan is missing.",
        "He is away at his nan's for the weekend.",
        "School recorded him as absent today and marked him as absent again.",
        "Jordan went away from placement without permission at 9pm.",
        "Do not reclassify as away.",
        "reclassify as away. Sorry, I mean reclassify as missing.",  # both: says nothing
        "Absence type: not sure",
        "Police treated it as missing.",
    ],
)
def test_absence_type_never_flips_on_a_stray_word(text: str) -> None:
    assert _read(text).absence_type is None


def test_without_absence_type_leaves_the_rest() -> None:
    text = "Type of absence:\nAway from placement\n\nJordan has gone missing again."
    left = without_absence_type("This was away from placement, not missing.\n" + text)
    assert "away" not in left.lower()
    assert "Jordan has gone missing again." in left


def test_display_name_is_the_last_resort_reporter() -> None:
    assert _read("Jordan is missing", from_name="Carter, Sue").reporter_name == "Sue Carter"


_PHRASES = st.sampled_from(
    ["last night", "around", "10", "9pm", "yesterday", "Tuesday", "26/11/2026", "21:30", "at",
     "midnight", "half past", "nine", "o'clock", "this morning", "Last seen:", "returned at",
     "DOB", "ref", "CAD", "log", "of", "\n", ", ", ". ", "Child's name:", "Jordan", "missing",
     "safe and well", "not", "31/02/2026", "99:99", "0", "12", "13pm", "-", "(", ")"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PHRASES, max_size=25).map(" ".join))
def test_field_readers_never_raise_on_phrase_soup(text: str) -> None:
    _read(text, subject=text[:50])
    parse_when(text, WINTER)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(max_size=600),
    st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
)
def test_extract_fields_never_raises(text: str, sent: datetime | None, received: datetime) -> None:
    msg = ReadMessage(subject=text[:80], text=text, date=sent)
    f = extract_fields(msg, tz=LONDON, received_at=received)
    for value in (f.last_seen_at, f.returned_at):
        assert value is None or value.tzinfo is not None
