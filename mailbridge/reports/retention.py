"""Retention: after the period, raw mail and free text go; the facts for the figures stay.

What is purged and what is kept, column by column, is in docs/privacy.md. A run works in
batches of ``retention.batch_size`` rows, one transaction each, so a first run over years of
mail never holds one long lock. On PostgreSQL each batch claims its rows ``FOR UPDATE SKIP
LOCKED``, so two instances purging at once share the work and purge nothing twice; SQLite has
one writer. The selection is by state (``purged_at`` unset, the marker absent), so a second
run purges nothing new. Every run, even one that purged nothing, writes one audit line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.base import BaseScheduler

from mailbridge.clock import Clock
from mailbridge.settings.config import Settings
from mailbridge.store import inbound, tx
from mailbridge.store import retention as due
from mailbridge.store.retention import MARKER_PREFIX

log = logging.getLogger(__name__)

ENTITY = "retention"

# Free text about the child, the carer or the circumstances: emptied once the episode is old.
EPISODE_FREE_TEXT = (
    "last_seen_text",
    "last_seen_location",
    "returned_by",
    "risk_notes",
    "description",
    "clothing",
    "reporter_name",
    "reporter_phone",
    "child_name_given",
)
INTERVIEW_FREE_TEXT = ("reason_notes", "reason_not_held", "risks", "actions")
# Kept for a purged police reference: the figures need to know one was given, not which.
POLICE_REFERENCE_PURGED = "[purged]"


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "dry_run": self.dry_run, "counts": self.counts}


def cutoff_for(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def cutoff_before(day: date, tz: ZoneInfo) -> datetime:
    """``--before DAY``: midnight at the start of DAY in the service's zone."""
    return datetime.combine(day, time(0), tzinfo=tz)


def marker(now: datetime) -> str:
    return f"{MARKER_PREFIX} {now.date().isoformat()}]"


def run(engine: tx.Engine, settings: Settings, *, now: datetime, actor: str) -> PurgeReport:
    """The configured purge: everything older than ``retention.days`` before ``now``."""
    r = settings.retention
    return purge(
        engine,
        cutoff=cutoff_for(now, r.days),
        now=now,
        batch_size=r.batch_size,
        actor=actor,
        outbox=settings.data_dir / "outbox",
    )


def schedule(scheduler: BaseScheduler, engine: tx.Engine, settings: Settings, clock: Clock) -> None:
    """A daily job at ``retention.hour`` in the service's zone; a failure waits for tomorrow."""
    if settings.retention.hour < 0:
        return

    def job() -> None:
        try:
            run(engine, settings, now=clock(), actor="scheduler")
        except Exception as exc:
            log.error("retention purge failed: %s; it runs again tomorrow", type(exc).__name__)

    scheduler.add_job(
        job,
        "cron",
        hour=settings.retention.hour,
        timezone=settings.tz,
        id="retention",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,
    )


# -- the run ------------------------------------------------------------------------------


def purge(
    engine: tx.Engine,
    *,
    cutoff: datetime,
    now: datetime,
    batch_size: int = 500,
    dry_run: bool = False,
    actor: str = "retention",
    outbox: Path | None = None,
) -> PurgeReport:
    """Purge everything older than ``cutoff`` (or only count it, for a dry run).

    ``outbox`` is the directory the file transport writes alerts to: the .eml copy of each
    purged alert is deleted with it (counted as ``outbox_files``).
    """
    if dry_run:
        with tx.read(engine) as session:
            return PurgeReport(cutoff, True, count_due(session, cutoff, outbox))
    counts = {"inbound_messages": 0, "episodes": 0, "episode_messages": 0, "interviews": 0}
    counts["inbound_messages"] = _batches(
        engine, lambda s: _purge_messages(s, cutoff, now, batch_size)
    )
    while True:
        with tx.write(engine) as session:
            done = _purge_episodes(session, cutoff, now, batch_size)
        for key, n in done.items():
            counts[key] += n
        if done["episodes"] < batch_size:
            break
    files: list[int] = [0]
    counts["alerts"] = _batches(
        engine, lambda s: _purge_alerts(s, cutoff, now, batch_size, outbox=outbox, files=files)
    )
    counts["outbox_files"] = files[0]
    with tx.write(engine) as session:
        inbound.audit(
            session,
            at=now,
            actor=actor,
            entity=ENTITY,
            entity_id=cutoff.date().isoformat(),
            action="purge",
            detail={"cutoff": cutoff.isoformat(), "counts": counts},
        )
    report = PurgeReport(cutoff, False, counts)
    log.info(
        "retention purge before %s: %s",
        cutoff.isoformat(),
        " ".join(f"{k}={v}" for k, v in counts.items()),
    )
    return report


def count_due(session: tx.Tx, cutoff: datetime, outbox: Path | None = None) -> dict[str, int]:
    """What a run with this cut-off would purge now."""
    counts = due.count_due(session, cutoff)
    counts["outbox_files"] = sum(
        1
        for message_id in due.alert_message_ids_due(session, cutoff)
        if outbox is not None and outbox_copy(outbox, message_id).is_file()
    )
    return counts


def outbox_copy(outbox: Path, message_id: str) -> Path:
    """Where FileTransport wrote the alert with this Message-ID."""
    return outbox / f"{message_id.strip('<>').replace('/', '_')}.eml"


def _batches(engine: tx.Engine, one: Callable[[tx.Tx], tuple[int, bool]]) -> int:
    """Repeat ``one(session)`` (one transaction each) until a batch comes back short."""
    total = 0
    while True:
        with tx.write(engine) as session:
            n, full = one(session)
        total += n
        if not full:
            return total


def _purge_messages(
    session: tx.Tx, cutoff: datetime, now: datetime, batch_size: int
) -> tuple[int, bool]:
    ids = due.claim_messages(session, cutoff, batch_size)
    if ids:
        # A processing error may quote the message; only that there was one is kept.
        due.blank_messages(session, ids, now, marker(now))
    return len(ids), len(ids) == batch_size


def _purge_episodes(
    session: tx.Tx, cutoff: datetime, now: datetime, batch_size: int
) -> dict[str, int]:
    """One batch of episodes, with their message summaries and interview notes."""
    ids = due.claim_episodes(session, cutoff, batch_size)
    done = {"episodes": len(ids), "episode_messages": 0, "interviews": 0}
    if not ids:
        return done
    due.blank_episodes(
        session, ids, now, columns=EPISODE_FREE_TEXT, police_reference=POLICE_REFERENCE_PURGED
    )
    links = due.message_summaries(session, ids)
    if links:
        due.set_summaries(session, {i: purged_summary(summary, now) for i, summary in links})
    done["episode_messages"] = len(links)
    done["interviews"] = due.blank_interviews(session, ids, INTERVIEW_FREE_TEXT)
    return done


def purged_summary(summary: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The facts of a message's effect, without match notes or attachment names."""
    old = summary or {}
    match = old.get("match")
    out: dict[str, Any] = {"purged": marker(now)}
    for key in ("kind", "reason"):
        if key in old:
            out[key] = old[key]
    if isinstance(match, dict):
        out["match"] = {k: match.get(k) for k in ("method", "confidence")}
    attachments = old.get("attachments")
    if isinstance(attachments, list):
        out["attachments"] = [
            {"content_type": a.get("content_type"), "size": a.get("size")}
            for a in attachments
            if isinstance(a, dict)
        ]
    return out


def _purge_alerts(
    session: tx.Tx,
    cutoff: datetime,
    now: datetime,
    batch_size: int,
    *,
    outbox: Path | None,
    files: list[int],
) -> tuple[int, bool]:
    ids = due.claim_alerts(session, cutoff, batch_size)
    if ids and outbox is not None:
        for message_id in due.alert_message_ids(session, ids):
            # The name FileTransport gives it; gone before the commit, so none is missed.
            copy = outbox_copy(outbox, message_id)
            if copy.is_file():
                copy.unlink()
                files[0] += 1
    if ids:
        due.blank_alerts(session, ids, marker(now))
    return len(ids), len(ids) == batch_size
