"""Report at scale: 100,000 episodes over ten years, then build_report for one and ten years.

Generates, with bulk Core inserts (executemany in chunks): placements, children, episodes
from 2016 to 2025 (about 3% still open), two alerts per episode (social worker, team
manager), acknowledgements for about 60%, escalations for about 20%, a return home interview
for each returned episode (with 0-3 reason codes) and a few failed inbound messages with
their audit rows. Then, on each database:

- baseline: ``SELECT count(*) FROM episodes``;
- ``build_report`` for 2025 and for 2016-2025 (median of ``--runs``), with ``html()``;
- one run of ``mailbridge report`` (a subprocess, so interpreter start-up included).

Target: ten years under 2 s on either database.

    .venv/bin/python bench/report.py [--episodes 100000] [--db sqlite|postgres|both] [--runs 3]

PostgreSQL: ``MAILBRIDGE_BENCH_DATABASE_URL`` (default the mb_report database); its public
schema is dropped and rebuilt.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, insert, select  # noqa: E402

from mailbridge.reports.report import build_report  # noqa: E402
from mailbridge.settings.config import Settings, load_settings  # noqa: E402
from mailbridge.store import db  # noqa: E402
from mailbridge.store.models import (  # noqa: E402
    Acknowledgement,
    Alert,
    AuditEntry,
    Child,
    DueAction,
    Episode,
    InboundMessage,
    Interview,
    Placement,
)
from tests.conftest import reset_postgres  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/mb_report"
FIRST = datetime(2016, 1, 1, tzinfo=UTC)
SPAN = (datetime(2026, 1, 1, tzinfo=UTC) - FIRST).total_seconds()
NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)
CODES = (
    "placement_conflict",
    "family_contact",
    "friends",
    "relationship",
    "exploitation",
    "substance_use",
    "school",
)
TYPES = ("foster", "residential", "kinship", "semi_independent", None)
CHUNK = 10_000


def chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def generate(engine: Engine, n: int, seed: int = 7) -> dict[str, int]:
    """Fill an empty, migrated database; returns the row counts."""
    rnd = random.Random(seed)
    n_children = max(10, n // 12)
    n_placements = max(5, n_children // 25)
    counts: dict[str, int] = {}

    def put(table: Any, rows: Iterator[dict[str, Any]]) -> None:
        total = 0
        with engine.begin() as conn:
            for batch in chunks(rows):
                conn.execute(insert(table), batch)
                total += len(batch)
        counts[table.__tablename__] = total

    put(
        Placement,
        (
            {"id": i, "name": f"Placement {i}", "placement_type": TYPES[i % len(TYPES)]}
            for i in range(1, n_placements + 1)
        ),
    )
    put(
        Child,
        (
            {
                "child_id": f"K{i:06d}",
                "first_name": f"First{i}",
                "last_name": f"Last{i}",
                "date_of_birth": (
                    None if i % 40 == 0 else date(1998, 1, 1) + timedelta(days=rnd.randrange(6000))
                ),
                "placement_id": None if i % 30 == 0 else rnd.randrange(1, n_placements + 1),
                "carer_emails": [],
                "attributes": {},
                "updated_at": NOW,
            }
            for i in range(1, n_children + 1)
        ),
    )
    episodes: list[dict[str, Any]] = []
    # A few children go missing often: the weights make repeat episodes realistic.
    weights = [1.0 / (1 + (i % 50)) for i in range(n_children)]
    kids = rnd.choices(range(1, n_children + 1), weights=weights, k=n)
    for i in range(1, n + 1):
        opened = FIRST + timedelta(seconds=rnd.random() * SPAN)
        seen = opened - timedelta(minutes=rnd.randrange(0, 600)) if rnd.random() < 0.8 else None
        hours = rnd.expovariate(1 / 30)
        returned = opened + timedelta(hours=hours) if rnd.random() > 0.03 else None
        unmatched = rnd.random() < 0.02
        episodes.append(
            {
                "id": i,
                "reference": f"MB-{opened.year}-{i:06d}",
                "child_id": None if unmatched else f"K{kids[i - 1]:06d}",
                "status": "returned" if returned else "open",
                "opened_at": opened,
                "last_seen_at": seen,
                "returned_at": returned,
                "police_reference": f"PR{i}" if rnd.random() < 0.7 else None,
                "sender_known": True,
                "match_method": "none" if unmatched else "child_id",
                "match_confidence": 1.0,
                "allocations": {},
                "absence_type": "M",
                "updated_at": returned or opened,
            }
        )
    put(Episode, iter(episodes))

    def alerts() -> Iterator[dict[str, Any]]:
        k = 0
        for e in episodes:
            for role in ("social_worker", "team_manager"):
                k += 1
                at = e["opened_at"] + timedelta(minutes=1)
                yield {
                    "id": k,
                    "event_key": f"missing:{e['id']}",
                    "event": "missing",
                    "episode_id": e["id"],
                    "role": role,
                    "recipient": f"{role}@council.example",
                    "message_id": f"<a{k}@bench>",
                    "subject": "s",
                    "body_text": "",
                    "body_html": "",
                    "headers": {},
                    "attach_inbound": False,
                    "status": "sent",
                    "attempts": 1,
                    "next_attempt_at": at,
                    "created_at": at,
                }

    put(Alert, alerts())
    put(
        Acknowledgement,
        (
            {
                "episode_id": e["id"],
                "role": "social_worker",
                "address": "sw@council.example",
                "at": e["opened_at"] + timedelta(minutes=rnd.expovariate(1 / 90)),
            }
            for e in episodes
            if rnd.random() < 0.6
        ),
    )
    put(
        DueAction,
        (
            {
                "key": f"esc1:{e['reference']}",
                "kind": "escalate_team_manager",
                "episode_id": e["id"],
                "due_at": e["opened_at"] + timedelta(hours=2),
                "roles": ["team_manager"],
                "status": "done",
                "done_at": e["opened_at"] + timedelta(hours=2),
            }
            for e in episodes
            if rnd.random() < 0.2
        ),
    )
    statuses = ("completed", "completed", "completed", "declined", "offered", "accepted", "due")

    def interviews() -> Iterator[dict[str, Any]]:
        for e in episodes:
            if e["returned_at"] is None:
                continue
            status = rnd.choice(statuses)
            due = e["returned_at"] + timedelta(hours=72)
            held = (due + timedelta(days=rnd.randrange(-3, 4))).date()
            yield {
                "episode_id": e["id"],
                "due_at": due,
                "status": status,
                "overdue": False,
                "held_on": held if status == "completed" else None,
                "reason_codes": rnd.sample(CODES, rnd.randrange(0, 4)),
                "sent_back": 0,
            }

    put(Interview, interviews())
    failed: list[dict[str, Any]] = [
        {
            "id": i,
            "message_id": f"<f{i}@bench>",
            "dedupe_key": f"m:f{i}",
            "sha256": "0" * 64,
            "size": 1,
            "rcpt_tos": [],
            "source": "smtp",
            "received_at": FIRST + timedelta(seconds=rnd.random() * SPAN),
            "status": rnd.choice(("failed", "processed", "ignored")),
            "attempts": 3,
        }
        for i in range(1, n // 100 + 1)
    ]
    put(InboundMessage, iter(failed))
    put(
        AuditEntry,
        (
            {
                "at": m["received_at"],
                "actor": "worker",
                "entity": "message",
                "entity_id": str(m["id"]),
                "action": "failed",
                "detail": None,
            }
            for m in failed
        ),
    )
    return counts


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, list[float], float]:
    """Median wall time, every wall time, and the median CPU time of this process.

    On SQLite the database works in this process, so the CPU time is the report's whole cost
    even on a machine shared with other work; on PostgreSQL the server's share is not in it.
    """
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), times, statistics.median(cpu)


def bench(url: str, n: int, runs: int, workdir: Path) -> dict[str, Any]:
    if url.startswith("postgresql"):
        reset_postgres(url)
    engine = db.make_engine(url)
    db.upgrade(engine)
    t0 = time.perf_counter()
    counts = generate(engine, n)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    generated = time.perf_counter() - t0
    settings: Settings = load_settings(
        None, {"MAILBRIDGE_DATABASE_URL": url, "MAILBRIDGE_DATA_DIR": str(workdir)}
    )

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Episode)).scalar_one())

    base, _, _ = timed(count, runs)
    results: dict[str, Any] = {
        "url": url.rsplit("@", maxsplit=1)[-1],
        "counts": counts,
        "generate": generated,
    }
    results["baseline"] = base
    for label, start in (("1 year", date(2025, 1, 1)), ("10 years", date(2016, 1, 1))):

        def build(start: date = start) -> None:
            r = build_report(engine, settings, start, date(2025, 12, 31), now=NOW)
            r.html()

        results[label] = timed(build, runs)
        r = build_report(engine, settings, start, date(2025, 12, 31), now=NOW)
        results[f"{label} episodes"] = r.figures.episodes
    env = dict(os.environ, MAILBRIDGE_DATABASE_URL=url, MAILBRIDGE_DATA_DIR=str(workdir))
    config = workdir / "empty.toml"
    config.write_text("", encoding="utf-8")
    out = workdir / "report.html"
    t0 = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "mailbridge"),
            "--config",
            str(config),
            "report",
            "--from",
            "2016-01-01",
            "--to",
            "2025-12-31",
            "--out",
            str(out),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    results["cli 10 years"] = time.perf_counter() - t0
    results["html bytes"] = out.stat().st_size
    engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    pg = os.environ.get("MAILBRIDGE_BENCH_DATABASE_URL", PG_DEFAULT)
    met = True
    with tempfile.TemporaryDirectory(prefix="mb-bench-report-") as tmp:
        work = Path(tmp)
        urls = []
        if args.db in ("sqlite", "both"):
            urls.append(f"sqlite:///{work / 'bench.db'}")
        if args.db in ("postgres", "both"):
            urls.append(pg)
        for url in urls:
            r = bench(url, args.episodes, args.runs, work)
            print(f"== {r['url']}")
            print(f"   rows: {r['counts']} (generated in {r['generate']:.1f} s)")
            print(f"   baseline SELECT count(*) FROM episodes: {r['baseline'] * 1000:.1f} ms")
            for label in ("1 year", "10 years"):
                median, runs, cpu = r[label]
                print(
                    f"   build_report + html, {label} ({r[label + ' episodes']} episodes): "
                    f"median {median:.2f} s (runs {', '.join(f'{t:.2f}' for t in runs)}), "
                    f"{median / r['baseline']:.0f}x the baseline; CPU here {cpu:.2f} s"
                )
            print(
                f"   mailbridge report, 10 years, one run: {r['cli 10 years']:.2f} s "
                f"({r['html bytes']} bytes of HTML)"
            )
            met = met and r["10 years"][0] < 2.0
    print(f"target (10 years < 2 s wall on each database): {'met' if met else 'NOT met'}")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0 if met else 2


if __name__ == "__main__":
    raise SystemExit(main())
