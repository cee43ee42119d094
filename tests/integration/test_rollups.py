"""The daily rollups give exactly the full scan's figures, and follow every change.

On generated data (tests/support/report_volume.py: episodes over ten years with returns,
interviews, alerts, acknowledgements, escalations, voids and unmatched ones), every figure of a
report from the rollups equals the full scan's (``recompute=True``), for several periods and
report times, before and after the days are stored, and after casework (through the real
casework functions), edits, deletions and new rows made without the ORM.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, func, inspect, select, text, update
from sqlalchemy.orm import Session

from mailbridge.episodes import casework
from mailbridge.reports import stats
from mailbridge.store import rollups
from mailbridge.store.models import (
    Acknowledgement,
    Alert,
    Episode,
    Interview,
    ReportDay,
    ReportMark,
)
from tests.support.report_volume import NOW, generate

LONDON = ZoneInfo("Europe/London")
PERIODS = (
    (date(2016, 1, 1), date(2025, 12, 31)),  # ten years
    (date(2025, 1, 1), date(2025, 12, 31)),
    (date(2019, 3, 1), date(2019, 4, 30)),  # a clock change
    (date(2020, 2, 29), date(2020, 2, 29)),  # one day
)
MIDWAY = datetime(2021, 6, 1, 12, tzinfo=UTC)  # many returns and deadlines still ahead
WATCHED = ("episodes", "interviews", "alerts", "acknowledgements", "due_actions")


def _differences(engine: Engine, start: date, end: date, now: datetime) -> list[str]:
    rolled = stats.compute(engine, start=start, end=end, tz=LONDON, now=now)
    scanned = stats.compute(engine, start=start, end=end, tz=LONDON, now=now, recompute=True)
    out = [
        f"{start}..{end} at {now:%Y-%m-%d}: {f.name} {getattr(rolled, f.name)!r} "
        f"!= {getattr(scanned, f.name)!r}"
        for f in dataclasses.fields(rolled)
        if getattr(rolled, f.name) != getattr(scanned, f.name)
    ]
    before = (start - timedelta(days=30), start - timedelta(days=1))
    counts = [
        stats.count_episodes(engine, start=before[0], end=before[1], tz=LONDON, recompute=r)
        for r in (False, True)
    ]
    if counts[0] != counts[1]:
        out.append(f"previous period {before}: {counts}")
    return out


def _all_agree(engine: Engine) -> None:
    found: list[str] = []
    for start, end in PERIODS:
        for now in (NOW, MIDWAY):
            found += _differences(engine, start, end, now)
    assert found == []


def _marks(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(ReportMark)) or 0)


def test_rollups_give_the_full_scans_figures(engine: Engine) -> None:
    generate(engine, 1500)
    assert _marks(engine) > 1500  # the triggers saw the bulk load
    _all_agree(engine)  # the first reports roll the days up ...
    with Session(engine) as s:
        assert (s.scalar(select(func.count()).select_from(ReportDay)) or 0) >= 3653
    assert _marks(engine) == 0  # ... and consume the marks
    _all_agree(engine)  # then they read the stored days


def _reference(engine: Engine, *where: Any) -> str:
    with Session(engine) as s:
        return str(
            s.scalars(select(Episode.reference).where(*where).order_by(Episode.id).limit(1)).one()
        )


def test_casework_and_edits_update_their_days(engine: Engine, make_settings: Any) -> None:
    generate(engine, 800)
    settings = make_settings()
    _all_agree(engine)
    start = func.coalesce(Episode.last_seen_at, Episode.opened_at)
    old = _reference(engine, Episode.status == "returned", start < datetime(2017, 6, 1, tzinfo=UTC))
    with Session(engine) as s:
        ep = s.scalars(select(Episode).where(Episode.reference == old)).one()
        begins = ep.last_seen_at or ep.opened_at
        old_id = ep.id
    day = begins.astimezone(LONDON).date()
    alone = stats.compute(engine, start=day, end=day, tz=LONDON, now=NOW)
    assert alone.episodes >= 1

    # An old episode's start moved five days earlier: its old day loses it, the new day gains.
    moved = begins - timedelta(days=5)
    casework.correct(engine, settings, old, by="tester", last_seen_at=moved, now=NOW)
    after = stats.compute(engine, start=day, end=day, tz=LONDON, now=NOW)
    assert after.episodes == alone.episodes - 1
    assert _differences(engine, day, day, NOW) == []
    new_day = moved.astimezone(LONDON).date()
    assert _differences(engine, new_day, new_day, NOW) == []

    # Void, return, reopen: through casework, as staff would.
    casework.void(
        engine,
        settings,
        _reference(engine, Episode.status == "returned", Episode.id > old_id),
        "not missing",
        by="tester",
        now=NOW,
    )
    open_one = _reference(engine, Episode.status == "open")
    casework.returned(engine, settings, open_one, NOW - timedelta(hours=3), by="tester", now=NOW)
    reopened = _reference(engine, Episode.status == "returned", Episode.id > old_id + 5)
    casework.reopen(engine, settings, reopened, "seen again", by="tester", now=NOW)
    _all_agree(engine)

    # Rows changed without the ORM or the casework: a deletion, an interview, an
    # acknowledgement moved, an alert's role: the triggers see them all.
    with Session(engine) as s, s.begin():
        gone = s.scalars(select(Episode.id).where(Episode.id > old_id + 20).limit(1)).one()
        s.execute(delete(Interview).where(Interview.episode_id == gone))
        s.execute(delete(Acknowledgement).where(Acknowledgement.episode_id == gone))
        s.execute(update(Alert).where(Alert.episode_id == gone).values(episode_id=None))
        s.execute(delete(Episode).where(Episode.id == gone))
        s.execute(
            update(Interview)
            .where(Interview.id == select(func.min(Interview.id)).scalar_subquery())
            .values(status="completed", held_on=date(2016, 3, 1), reason_codes=["friends"])
        )
        s.execute(
            update(Acknowledgement)
            .where(Acknowledgement.id == select(func.max(Acknowledgement.id)).scalar_subquery())
            .values(at=NOW)
        )
        s.execute(
            update(Alert)
            .where(Alert.id == select(func.min(Alert.id)).scalar_subquery())
            .values(role="duty")
        )
    _all_agree(engine)


def test_only_what_the_figures_read_leaves_a_mark(engine: Engine) -> None:
    generate(engine, 50)
    stats.compute(engine, start=date(2016, 1, 1), end=date(2025, 12, 31), tz=LONDON, now=NOW)
    assert _marks(engine) == 0
    with Session(engine) as s, s.begin():
        s.execute(update(Alert).values(status="failed", attempts=Alert.attempts + 1))
        s.execute(update(Episode).values(updated_at=NOW))
    assert _marks(engine) == 0
    with Session(engine) as s, s.begin():
        s.execute(update(Episode).where(Episode.id == 3).values(police_reference="changed"))
    assert _marks(engine) == 2  # the start before and after the change: the same day here


def test_every_watched_table_has_its_triggers(engine: Engine) -> None:
    """A later migration that rebuilds one of these tables (a SQLite batch copy) drops them."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT tbl_name FROM sqlite_master WHERE type='trigger'"))
        else:
            rows = conn.execute(
                text(
                    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE NOT t.tgisinternal"
                )
            )
        tables = [r[0] for r in rows]
        assert set(inspect(conn).get_table_names()) >= set(WATCHED)
    per_table = 2 if engine.dialect.name == "postgresql" else 3
    assert {t: tables.count(t) for t in WATCHED} == dict.fromkeys(WATCHED, per_table)


def test_a_report_that_lost_the_race_keeps_nothing(engine: Engine) -> None:
    generate(engine, 50)
    period = (date(2016, 1, 1), date(2025, 12, 31))
    stats.compute(engine, start=period[0], end=period[1], tz=LONDON, now=NOW)
    with Session(engine) as s:
        zone, version = rollups.state(s)
    assert zone == "Europe/London"
    stale = {date(2016, 1, 1): (999, "{}")}
    assert not rollups.write_days(engine, tz=zone, version=version - 1, days=stale, consumed=[])
    _all_agree(engine)
    # Another time zone replaces the stored days and stays right.
    other = ZoneInfo("America/New_York")
    a = stats.compute(engine, start=period[0], end=period[1], tz=other, now=NOW)
    b = stats.compute(engine, start=period[0], end=period[1], tz=other, now=NOW, recompute=True)
    assert a == b
    _all_agree(engine)
