"""The report's figures against each other and against the episode list, on one data set.

Each figure is defined once (docs/report.md); this checks that the parts add up to the whole,
whatever the data, so "Returned 1" can never stand beside "Still missing 6" when the episode
list shows them back.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from mailbridge.reports import stats
from mailbridge.reports.figures import ACK_ROLES
from mailbridge.reports.report import build_report
from mailbridge.store.models import Alert, Episode, Interview
from tests.support.report_data import END, NOW, START, seed

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


def test_acknowledgement_figures_only_for_roles_asked_to_acknowledge(engine: Engine) -> None:
    seed(engine)
    with Session(engine) as s, s.begin():
        episode = s.scalars(select(Episode).order_by(Episode.id)).first()
        assert episode is not None
        for n, role in enumerate(("apprentice", "iro", "reporter")):
            s.add(
                Alert(
                    event_key=f"extra{n}",
                    event="missing",
                    episode_id=episode.id,
                    role=role,
                    recipient=f"{role}@council.example",
                    message_id=f"<extra{n}@mb>",
                    subject="s",
                    body_text="t",
                    body_html="h",
                    headers={},
                    attach_inbound=False,
                    status="sent",
                    attempts=1,
                    next_attempt_at=episode.opened_at,
                    created_at=episode.opened_at,
                )
            )
    f = stats.compute(engine, start=START, end=END, tz=LONDON, now=NOW)
    assert {a.role for a in f.acks} == {"social_worker", "team_manager"}
    assert {a.role for a in f.acks} <= set(ACK_ROLES)


def test_the_headline_and_the_hour_chart(engine: Engine, make_settings) -> None:
    seed(engine)
    built = build_report(engine, make_settings(), START, END, now=NOW)
    f = built.figures
    days = (END - START).days + 1
    before = stats.compute(
        engine,
        start=START - timedelta(days=days),
        end=START - timedelta(days=1),
        tz=LONDON,
        now=NOW,
    )
    # The last period's count is the same figure as this period's, for the days before.
    assert built.previous_episodes == before.episodes
    headline = dict(built.headline())
    assert list(headline) == [
        "Missing now",
        "This period against the last",
        "Return interviews held on time",
    ]
    assert headline["Missing now"].startswith(f"{f.missing_now_children} child(ren)")
    change = f.episodes - before.episodes
    assert headline["This period against the last"] == (
        f"{f.episodes} episode(s), {before.episodes} the period before "
        f"({'+' if change > 0 else ''}{change})"
    )
    iv = f.interviews
    assert headline["Return interviews held on time"].startswith(
        f"{iv.completed_in_time} of {iv.owed} owed"
    )
    html = built.html()
    assert html.index("At a glance") < html.index("<h2>Summary</h2>")
    assert "Episodes by hour of day (local time of start)" in html
    hours = built.charts()["hours"]
    assert [label for label, _ in hours] == [f"{h:02d}" for h in range(24)]
    assert sum(n for _, n in hours) == f.episodes
