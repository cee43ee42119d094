"""A return in the small hours after an evening sighting is the next morning (not a return
before the sighting); a return before a later sighting that same day still keeps the child
missing (back and gone again)."""

from __future__ import annotations

from datetime import UTC, datetime

from mailbridge.reading.fields import ReportFields
from tests.support.carer_mail import read_carer_mail


def read(body: str, sent: str, received: datetime) -> tuple[ReportFields, str]:
    fields, cls = read_carer_mail(body, sent=sent, received=received)
    return fields, cls.kind


def test_back_in_the_small_hours_after_a_saturday_evening_is_sunday() -> None:
    fields, kind = read(
        "Dana went out at 19:00 on Saturday. She came back at 02:10. She is fine.",
        "Sun, 07 Feb 2027 10:00:00 +0000",
        datetime(2027, 2, 7, 10, 1, tzinfo=UTC),
    )
    assert kind == "returned"
    assert fields.returned_at == datetime(2027, 2, 7, 2, 10, tzinfo=UTC)


def test_the_night_the_clocks_went_back() -> None:
    fields, kind = read(
        "Jayce went out at 22:10 last night (Saturday). Didn't come back for curfew at 23:00 so "
        "we reported him missing to police at 23:45, CAD 0982.\n\nHe came back at 02:20 - "
        "that's the new time, after the clocks went back at 2. He's fine.",
        "Sun, 25 Oct 2026 03:05:26 +0000",
        datetime(2026, 10, 25, 3, 7, tzinfo=UTC),
    )
    assert kind == "returned"
    assert fields.returned_at == datetime(2026, 10, 25, 2, 20, tzinfo=UTC)


def test_back_and_gone_again_the_same_day_stays_missing() -> None:
    fields, kind = read(
        "Dana came back at 2am. She went out again at 7pm tonight and is not back.",
        "Sat, 06 Feb 2027 23:00:00 +0000",
        datetime(2027, 2, 6, 23, 1, tzinfo=UTC),
    )
    assert kind == "missing" and fields.returned_at is None
    fields, kind = read(
        "Dana came back at 2am on Saturday after being out all Friday night. She left again at "
        "7pm Saturday and has not come back.",
        "Sun, 07 Feb 2027 10:00:00 +0000",
        datetime(2027, 2, 7, 10, 1, tzinfo=UTC),
    )
    assert kind == "missing" and fields.returned_at is None


def test_a_return_with_no_am_or_pm_is_the_evenings_when_only_that_fits() -> None:
    fields, kind = read(
        "Dana went out about half 7 tonight (Friday) to the youth club and did not come home. "
        "Her friend's mum dropped her back at 11.50, she's safe and well and in bed.",
        "Sat, 13 Mar 2027 00:35:00 +0000",
        datetime(2027, 3, 13, 0, 36, tzinfo=UTC),
    )
    assert kind == "returned"
    assert fields.returned_at == datetime(2027, 3, 12, 23, 50, tzinfo=UTC)


def test_a_return_said_as_morning_before_the_sighting_stays_a_conflict() -> None:
    fields, kind = read(
        "Dana went out about half 7 tonight (Friday). She came back at 11.50 this morning.",
        "Sat, 13 Mar 2027 00:35:00 +0000",
        datetime(2027, 3, 13, 0, 36, tzinfo=UTC),
    )
    assert kind == "missing" and fields.returned_at is None
