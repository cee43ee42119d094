"""Every report figure against hand-worked answers (tests/support/report_data.py), on both
databases."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, literal, select
from sqlalchemy.orm import Session

from mailbridge.episodes import casework
from mailbridge.reports import stats
from mailbridge.reports.figures import Spread
from mailbridge.store.models import Episode, UTCDateTime
from mailbridge.store.sqltime import SqlTime, transitions
from tests.support.report_data import END, EXPECTED, NOW, START, seed

LONDON = ZoneInfo("Europe/London")


def test_every_figure_matches_the_worked_answer(engine: Engine) -> None:
    seed(engine)
    f = stats.compute(engine, start=START, end=END, tz=LONDON, now=NOW)
    x = EXPECTED

    assert f.period.start_utc == datetime(2026, 3, 1, tzinfo=UTC)
    assert f.period.end_utc == datetime(2026, 4, 30, 23, tzinfo=UTC)  # BST midnight
    assert f.generated_at == NOW
    assert (f.episodes, f.children, f.episodes_per_child) == (
        x["episodes"],
        x["children"],
        x["episodes_per_child"],
    )
    assert (f.children_2plus, f.children_3plus) == (x["children_2plus"], x["children_3plus"])
    assert (f.missing_now_children, f.missing_now_unmatched) == (
        x["missing_now_children"],
        x["missing_now_unmatched"],
    )
    assert (f.returned, f.still_missing) == (x["returned"], x["still_missing"])
    assert f.duration_bands == x["duration_bands"]
    assert f.duration_invalid == x["duration_invalid"]
    assert f.duration.count == 7
    assert f.duration.median_hours == pytest.approx(x["duration_median"], abs=1e-3)
    assert f.duration.p90_hours == pytest.approx(x["duration_p90"], abs=1e-3)
    assert f.by_age_band == x["by_age_band"]
    assert f.by_placement == x["by_placement"]
    assert f.by_placement_type == x["by_placement_type"]
    assert f.by_hour == [x["by_hour"].get(h, 0) for h in range(24)]
    assert f.by_weekday == x["by_weekday"]
    assert f.by_month == x["by_month"]
    assert f.police_reference == x["police_reference"]

    iv = f.interviews
    assert iv.owed == x["interviews_owed"]
    assert iv.by_status == x["interviews_by_status"]
    assert iv.offered == x["interviews_offered"]
    assert (iv.completed_in_time, iv.completed_late, iv.completed_undated) == (
        x["completed_in_time"],
        x["completed_late"],
        x["completed_undated"],
    )
    assert iv.overdue_open == x["overdue_open"]
    assert f.reasons == x["reasons"]
    assert f.interviews_with_reasons == x["interviews_with_reasons"]

    acks = {a.role: a for a in f.acks}
    assert set(acks) == set(x["acks"])  # the reporter's receipt is not an acknowledgeable alert
    for role, (alerted, acked, median, p90) in x["acks"].items():
        a = acks[role]
        assert (a.alerted, a.acknowledged, a.time_to_ack.count) == (alerted, acked, acked), role
        assert a.time_to_ack.median_hours == pytest.approx(median, abs=1e-3), role
        assert a.time_to_ack.p90_hours == pytest.approx(p90, abs=1e-3), role
    assert f.escalations == x["escalations"]
    assert f.episodes_escalated == x["episodes_escalated"]
    u = f.unmatched
    assert (u.reported, u.matched_later, u.still_unmatched) == x["unmatched"]
    fl = f.failed
    assert (
        fl.failed,
        fl.still_failed,
        fl.reprocessed_processed,
        fl.reprocessed_ignored,
        fl.pending,
    ) == x["failed"]
    assert [(c.child_id, c.episodes) for c in f.repeat_children] == x["repeat_children"]
    assert f.repeat_children_more == 0


def test_a_second_report_on_the_same_pool_finds_no_leftovers(engine: Engine) -> None:
    """The temporary tables go with the report's transaction; the pooled connection is reused."""
    seed(engine)
    first = stats.compute(engine, start=START, end=END, tz=LONDON, now=NOW)
    again = stats.compute(engine, start=START, end=END, tz=LONDON, now=NOW)
    assert again == first


def test_report_time_decides_what_is_still_missing(engine: Engine) -> None:
    """Before E6 came back (2 May), it counts as still missing, with no duration."""
    seed(engine)
    f = stats.compute(
        engine, start=START, end=END, tz=LONDON, now=datetime(2026, 5, 1, 12, tzinfo=UTC)
    )
    assert f.still_missing == EXPECTED["still_missing"] + 1
    assert f.duration_bands["1–2 days"] == EXPECTED["duration_bands"]["1–2 days"] - 1
    # E6 makes C2 missing then (E7 of 1 May was back by 06:00); E15 was not yet reported.
    assert f.missing_now_children == EXPECTED["missing_now_children"] + 1
    assert f.missing_now_unmatched == 0


def test_an_empty_period_gives_zeros_not_errors(engine: Engine) -> None:
    seed(engine)
    f = stats.compute(engine, start=date(2020, 1, 1), end=date(2020, 1, 31), tz=LONDON, now=NOW)
    assert (f.episodes, f.children, f.episodes_per_child) == (0, 0, None)
    assert f.duration == Spread(0, None, None)
    assert f.by_month == [("2020-01", 0)]
    assert f.reasons == [] and f.acks == [] and f.repeat_children == []
    assert f.interviews.owed == 0
    assert f.missing_now_children == EXPECTED["missing_now_children"]  # whatever the period


def test_a_period_that_ends_before_it_starts_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="ends"):
        stats.compute(engine, start=END, end=START, tz=LONDON, now=NOW)


def test_transitions_find_the_clock_changes_to_the_second() -> None:
    steps = transitions(LONDON, date(2026, 1, 1), date(2026, 12, 31))
    assert steps == [
        (datetime(2026, 1, 1, tzinfo=UTC), 0),
        (datetime(2026, 3, 29, 1, tzinfo=UTC), 3600),
        (datetime(2026, 10, 25, 1, tzinfo=UTC), 0),
    ]
    assert transitions(ZoneInfo("UTC"), date(2026, 1, 1), date(2030, 1, 1)) == [
        (datetime(2026, 1, 1, tzinfo=UTC), 0)
    ]


def test_the_same_episodes_in_utc_fall_on_other_hours_and_days(engine: Engine) -> None:
    """A zone with no clock change at all (one offset, no CASE) still reads local times."""
    seed(engine)
    f = stats.compute(engine, start=START, end=END, tz=ZoneInfo("UTC"), now=NOW)
    # E7 (30 Apr 23:30 UTC) is in the period in UTC; E3 falls on 10 April, before C1's birthday.
    assert f.episodes == EXPECTED["episodes"] + 1
    assert f.by_hour[23] == 4 and f.by_hour[0] == 2
    assert f.by_age_band["under 10"] == EXPECTED["by_age_band"]["under 10"] + 1
    assert f.interviews.completed_in_time == EXPECTED["completed_in_time"] - 1  # E3 held late


@pytest.mark.parametrize(
    ("at", "local_date"),
    [
        (datetime(2026, 3, 28, 23, 59, tzinfo=UTC), 20260328),  # GMT: still the 28th
        (datetime(2026, 6, 30, 23, 30, tzinfo=UTC), 20260701),  # BST: already 1 July
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), 20261025),  # BST, the night it ends
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), 20261231),  # GMT again
    ],
)
def test_local_ymd_is_the_local_date(engine: Engine, at: datetime, local_date: int) -> None:
    """PostgreSQL's shortcut for the episodes' local date agrees with the local seconds."""
    st = SqlTime(engine.dialect.name, LONDON, date(2026, 1, 1), date(2026, 12, 31))
    stamp = literal(at, UTCDateTime())
    with engine.connect() as conn:
        direct, via_seconds = conn.execute(
            select(st.local_ymd(stamp), st.ymd(st.local_seconds(stamp)))
        ).one()
    assert (direct, via_seconds) == (local_date, local_date)


def test_a_void_episode_is_in_no_figure(engine: Engine, make_settings: Any) -> None:
    """`episode void` (docs/casework.md): out of the counts, the durations and missing now."""
    seed(engine)
    before = stats.compute(engine, start=START, end=END, tz=LONDON, now=NOW)
    start = func.coalesce(Episode.last_seen_at, Episode.opened_at)
    with Session(engine) as session:
        reference = session.scalars(
            select(Episode.reference)
            .where(
                Episode.status == "open",
                Episode.child_id.is_not(None),
                start >= before.period.start_utc,
                start < before.period.end_utc,
            )
            .order_by(Episode.id)
            .limit(1)
        ).one()
    casework.void(engine, make_settings(), reference, "test", by="tester", now=NOW)
    after = stats.compute(engine, start=START, end=END, tz=LONDON, now=NOW)
    assert after.episodes == before.episodes - 1
    assert after.still_missing == before.still_missing - 1
    assert after.missing_now_children <= before.missing_now_children
    assert sum(after.by_hour) == sum(before.by_hour) - 1
