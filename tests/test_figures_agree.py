"""The report's figures against each other and against the episode list, on one data set.

Each figure is defined once (docs/report.md); this checks that the parts add up to the whole,
whatever the data, so "Returned 1" can never stand beside "Still missing 6" when the episode
list shows them back.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from mailbridge.reports import stats
from mailbridge.store.models import Episode, Interview
from tests.report_data import END, NOW, START, seed

LONDON = ZoneInfo("Europe/London")


def test_the_parts_add_up_to_the_whole(engine: Engine) -> None:
    seed(engine)
    f = stats.compute(engine, start=START, end=END, tz=LONDON, now=NOW)
    assert f.episodes > 0
    # Every episode of the period is returned or still missing, never both.
    assert f.returned + f.still_missing == f.episodes
    # Every return is in exactly one duration band or is a data error.
    assert sum(f.duration_bands.values()) + f.duration_invalid == f.returned
    assert f.duration.count == f.returned - f.duration_invalid
    # Each breakdown by time of start covers every episode once.
    assert sum(f.by_hour) == f.episodes
    assert sum(f.by_weekday) == f.episodes
    assert sum(n for _, n in f.by_month) == f.episodes
    # Interviews: each owed interview has one current status.
    assert sum(f.interviews.by_status.values()) == f.interviews.owed
    completed = f.interviews.by_status.get("completed", 0)
    iv = f.interviews
    assert iv.completed_in_time + iv.completed_late + iv.completed_undated == completed
    # Unmatched reports are matched later or still unmatched.
    assert f.unmatched.matched_later + f.unmatched.still_unmatched == f.unmatched.reported
    # Acknowledgements: never more acknowledged than alerted.
    assert all(a.acknowledged <= a.alerted for a in f.acks)


def test_returned_and_still_missing_agree_with_the_episode_list(engine: Engine) -> None:
    seed(engine)
    f = stats.compute(engine, start=START, end=END, tz=LONDON, now=NOW)
    start = func.coalesce(Episode.last_seen_at, Episode.opened_at)
    in_period = (start >= f.period.start_utc, start < f.period.end_utc)
    with Session(engine) as s:
        statuses = dict(
            s.execute(
                select(Episode.status, func.count()).where(*in_period).group_by(Episode.status)
            ).all()
        )
        owed = s.scalar(
            select(func.count(Interview.id))
            .join(Episode, Episode.id == Interview.episode_id)
            .where(*in_period)
        )
    # What `mailbridge episodes` shows as returned is what the report counts as returned.
    assert statuses.get("returned", 0) == f.returned, (statuses, f.returned)
    assert sum(statuses.values()) == f.episodes
    assert owed == f.interviews.owed
