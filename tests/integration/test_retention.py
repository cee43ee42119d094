"""Retention: old raw mail and free text purged, open cases and the statistics kept.

The data is made by the real intake, worker, timers and reply handling
(tests/support/story.py's Story) with an injected clock, so the rows are the ones production writes.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbridge.directory import csv_file
from mailbridge.episodes.timeline import find_episode
from mailbridge.reports import retention
from mailbridge.store import directory
from mailbridge.store.models import (
    Alert,
    AuditEntry,
    Episode,
    EpisodeMessage,
    InboundMessage,
    Interview,
)
from tests.support.retention_world import CUTOFF, NOW, build
from tests.support.story import FIXTURES, T0, Story

FACTS = (
    "reference",
    "child_id",
    "status",
    "opened_at",
    "last_seen_at",
    "returned_at",
    "safe_and_well",
    "risk_level",
    "reported_by",
    "sender_known",
    "sender_verified",
    "match_method",
    "match_confidence",
    "allocations",
    "absence_type",
)


@pytest.fixture
def story(engine: Any, make_settings: Any) -> Story:
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=T0, actor="test")
    # Non-reports alerted one by one (the triage summary has its own tests).
    return Story(engine, make_settings("[processing]\ntriage_summary_minutes = 0\n"))


def snapshot(story: Story) -> dict[str, Any]:
    """Every column retention may touch, to prove a dry run touches none."""
    with Session(story.engine) as s:
        return {
            "raw": sorted(
                (m.id, m.raw is None, m.purged_at, m.error)
                for m in s.scalars(select(InboundMessage))
            ),
            "episodes": sorted(
                (e.id, e.description, e.clothing, e.police_reference, e.purged_at)
                for e in s.scalars(select(Episode))
            ),
            "links": sorted((li.id, str(li.summary)) for li in s.scalars(select(EpisodeMessage))),
            "alerts": sorted((a.id, a.subject, a.body_text) for a in s.scalars(select(Alert))),
            "interviews": sorted((i.id, i.risks) for i in s.scalars(select(Interview))),
            "audit": s.scalar(select(func.count()).select_from(AuditEntry)),
        }


def episode(story: Story, reference: str) -> Episode:
    with Session(story.engine) as s:
        return s.scalars(select(Episode).where(Episode.reference == reference)).one()


def messages_of(story: Story, reference: str) -> list[InboundMessage]:
    with Session(story.engine) as s:
        return list(
            s.scalars(
                select(InboundMessage)
                .join(EpisodeMessage, EpisodeMessage.inbound_id == InboundMessage.id)
                .join(Episode, Episode.id == EpisodeMessage.episode_id)
                .where(Episode.reference == reference)
            )
        )


def raw_of(story: Story, message_id: int) -> bytes | None:
    with Session(story.engine) as s:
        return s.scalar(select(InboundMessage.raw).where(InboundMessage.id == message_id))


def test_purge_keeps_open_cases_and_the_facts_and_is_idempotent(story: Story) -> None:
    world = build(story)
    outbox = story.settings.data_dir / "outbox"
    before = {ref: episode(story, ref) for ref in (world.old, world.open, world.recent)}
    assert before[world.old].clothing and before[world.old].police_reference
    untouched = snapshot(story)

    dry = retention.purge(
        story.engine, cutoff=CUTOFF, now=NOW, batch_size=2, dry_run=True, outbox=outbox
    )
    assert snapshot(story) == untouched, "a dry run changed the database"
    assert dry.counts["episodes"] == 1 and dry.counts["inbound_messages"] == 4

    copies = sorted(p.name for p in outbox.glob("*.eml"))
    # Two instances at once, in small batches: they share the work and purge nothing twice.
    reports: list[retention.PurgeReport] = []

    def run() -> None:
        reports.append(
            retention.purge(story.engine, cutoff=CUTOFF, now=NOW, batch_size=1, outbox=outbox)
        )

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(reports) == 2
    counts = {k: reports[0].counts[k] + reports[1].counts[k] for k in dry.counts}
    assert counts == dry.counts
    assert counts["outbox_files"] == counts["alerts"] > 0
    left = sorted(p.name for p in outbox.glob("*.eml"))
    assert len(left) == len(copies) - counts["outbox_files"]

    # The old, returned episode: free text gone, facts intact.
    old = episode(story, world.old)
    assert old.purged_at == NOW
    for column in retention.EPISODE_FREE_TEXT:
        assert getattr(old, column) is None, column
    assert old.police_reference == retention.POLICE_REFERENCE_PURGED
    for column in FACTS:
        assert getattr(old, column) == getattr(before[world.old], column), column
    for m in messages_of(story, world.old):
        assert raw_of(story, m.id) is None and m.purged_at == NOW
    assert raw_of(story, world.noise) is None

    # The open case reported just as long ago, and the recent one, are whole.
    for ref in (world.open, world.recent):
        kept = episode(story, ref)
        assert kept.purged_at is None
        for column in (*FACTS, *retention.EPISODE_FREE_TEXT, "police_reference"):
            assert getattr(kept, column) == getattr(before[ref], column), (ref, column)
        for m in messages_of(story, ref):
            assert raw_of(story, m.id) and m.purged_at is None
    assert "yellow raincoat" in (episode(story, world.open).clothing or "")

    with Session(story.engine) as s:
        old_id = before[world.old].id
        for link in s.scalars(select(EpisodeMessage).where(EpisodeMessage.episode_id == old_id)):
            assert link.summary and "purged" in link.summary
            assert "note" not in str(link.summary) and "classification" not in link.summary
        alerts = list(s.scalars(select(Alert)))
        purged = [a for a in alerts if a.subject.startswith("[purged")]
        assert {a.episode_id for a in purged} == {old_id, None}
        assert all(a.body_text == a.body_html == "[purged 2025-04-09]" for a in purged)
        assert any(a.inbound_id == world.noise for a in purged)
        open_alerts = [a for a in alerts if a.episode_id == before[world.open].id]
        assert open_alerts and not any(a.subject.startswith("[purged") for a in open_alerts)
        interview = s.scalars(select(Interview).where(Interview.episode_id == old_id)).one()
        assert (interview.reason_notes, interview.risks, interview.actions) == (None, None, None)
        assert interview.reason_codes == ["friends"] and interview.status == "completed"
        assert interview.held_on is not None and interview.interviewer == "Sam Patel"
        lines = list(s.scalars(select(AuditEntry).where(AuditEntry.entity == "retention")))
        assert sorted(str(line.detail) for line in lines) == sorted(
            str({"cutoff": CUTOFF.isoformat(), "counts": r.counts}) for r in reports
        )
        assert {line.entity_id for line in lines} == {CUTOFF.date().isoformat()}

    # The episode JSON still reads, with the facts.
    with Session(story.engine) as s:
        data = find_episode(s, world.old)
    assert data is not None and data["child_id"] == "100231" and data["clothing"] is None

    # The configured run (retention.days = 365) an hour later: nothing new.
    again = retention.run(story.engine, story.settings, now=NOW + timedelta(hours=1), actor="t")
    assert again.cutoff == CUTOFF + timedelta(hours=1)
    assert again.total == 0, again.counts
    with Session(story.engine) as s:
        lines = list(s.scalars(select(AuditEntry).where(AuditEntry.entity == "retention")))
    assert len(lines) == 3 and (lines[-1].detail or {}).get("counts") == again.counts


def test_the_purge_command(story: Story, monkeypatch: Any, capsys: Any) -> None:
    """Real time now, so everything built in 2024 but the open case is past 365 days."""
    from mailbridge.cli import main

    world = build(story, recent=False)
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", story.settings.database_url)
    monkeypatch.setenv("MAILBRIDGE_DATA_DIR", str(story.settings.data_dir))
    config = ["--config", str(story.settings.source)]
    untouched = snapshot(story)
    capsys.readouterr()
    assert main([*config, "purge", "--dry-run", "--json"]) == 0
    import json

    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] is True and dry["counts"]["episodes"] == 1
    assert snapshot(story) == untouched
    assert main([*config, "purge", "--before", "2024-03-01"]) == 0
    out = capsys.readouterr().out
    assert "purged before 2024-03-01 00:00 GMT" in out and "episodes          0" in out
    assert main([*config, "purge", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["counts"] == dry["counts"]
    assert episode(story, world.old).purged_at is not None
    assert episode(story, world.open).purged_at is None
    assert main([*config, "purge", "--before", "2999-01-01"]) == 1
    assert "in the future" in capsys.readouterr().err
    assert main([*config, "purge", "--before", "last year"]) == 1


def test_retention_settings_are_checked(make_settings: Any) -> None:
    from mailbridge.errors import ConfigError

    assert make_settings().retention.days == 365
    with pytest.raises(ConfigError, match=r"retention\.days"):
        make_settings("[retention]\ndays = 7\n")
    with pytest.raises(ConfigError, match=r"retention\.hour"):
        make_settings("[retention]\nhour = 24\n")


def test_serve_schedules_the_daily_purge(engine: Any, make_settings: Any) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    retention.schedule(scheduler, engine, make_settings("[retention]\nhour = 4\n"), lambda: NOW)
    job = scheduler.get_job("retention")
    assert job is not None and "hour='4'" in str(job.trigger)
    job.func()  # what the scheduler runs: the configured purge, audited
    with Session(engine) as s:
        (line,) = s.scalars(select(AuditEntry).where(AuditEntry.entity == "retention"))
    assert (line.actor, (line.detail or {}).get("cutoff")) == ("scheduler", CUTOFF.isoformat())
    never = BackgroundScheduler(timezone="UTC")
    retention.schedule(never, engine, make_settings("[retention]\nhour = -1\n"), lambda: NOW)
    assert never.get_jobs() == []
