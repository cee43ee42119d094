"""Report at scale: 100,000 episodes over ten years, then build_report for one and ten years.

Generates the data with ``tests/support/report_volume.generate`` (bulk Core inserts; the
rollup triggers fire for every row, as they would have over ten years). Then, on each
database:

- baseline: ``SELECT count(*) FROM episodes``;
- before: the full scan, ``build_report(recompute=True)``, for 2025 and for 2016-2025 (median
  of ``--runs``), with ``html()``;
- the first report from the daily rollups after the load (it rolls up every day, once);
- after: reports from the daily rollups (median of ``--runs``), after an edit of an old
  episode and a new one, as a council's store would be between two reports;
- the rollups' figures checked equal to the full scan's, field by field;
- one run of ``mailbridge report`` (a subprocess, so interpreter start-up included).

Target: ten years under 1 s on either database.

    .venv/bin/python bench/report.py [--episodes 100000] [--db sqlite|postgres|both] [--runs 3]

PostgreSQL: ``MAILBRIDGE_BENCH_DATABASE_URL`` (default the mb_report database); its public
schema is dropped and rebuilt.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, update  # noqa: E402

from mailbridge.reports.report import build_report  # noqa: E402
from mailbridge.settings.config import Settings, load_settings  # noqa: E402
from mailbridge.store import db  # noqa: E402
from mailbridge.store.models import Episode  # noqa: E402
from tests.support.env import reset_postgres  # noqa: E402
from tests.support.report_volume import NOW, generate  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/mb_report"


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
    end = date(2025, 12, 31)
    periods = (("1 year", date(2025, 1, 1)), ("10 years", date(2016, 1, 1)))
    for label, start in periods:

        def scan(start: date = start) -> None:
            build_report(engine, settings, start, end, now=NOW, recompute=True).html()

        results[f"scan {label}"] = timed(scan, runs)
    t0 = time.perf_counter()
    first = build_report(engine, settings, date(2016, 1, 1), end, now=NOW)
    results["first rollup"] = time.perf_counter() - t0
    with engine.begin() as conn:  # an old episode edited, as casework would
        begins = conn.execute(
            select(func.coalesce(Episode.last_seen_at, Episode.opened_at)).where(Episode.id == 17)
        ).scalar_one()
        conn.execute(
            update(Episode).where(Episode.id == 17).values(last_seen_at=begins - timedelta(days=3))
        )
    for label, start in periods:

        def build(start: date = start) -> None:
            build_report(engine, settings, start, end, now=NOW).html()

        results[label] = timed(build, runs)
        rolled = build_report(engine, settings, start, end, now=NOW)
        scanned = build_report(engine, settings, start, end, now=NOW, recompute=True)
        results[f"{label} episodes"] = rolled.figures.episodes
        results[f"{label} same"] = (
            rolled.figures == scanned.figures
            and rolled.previous_episodes == scanned.previous_episodes
        )
    results["first same"] = first.figures.episodes > 0
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
                for kind, key in (("full scan (before)", f"scan {label}"), ("rollups", label)):
                    median, times, cpu = r[key]
                    print(
                        f"   build_report + html, {label}, {kind}: median {median:.2f} s "
                        f"(runs {', '.join(f'{t:.2f}' for t in times)}), "
                        f"{median / r['baseline']:.0f}x the baseline; CPU here {cpu:.2f} s"
                    )
                same = "equal" if r[f"{label} same"] else "DIFFERENT"
                print(f"   {label}: {r[label + ' episodes']} episodes; rollups and scan {same}")
            print(f"   first report from the rollups after the load: {r['first rollup']:.2f} s")
            print(
                f"   mailbridge report, 10 years, one run: {r['cli 10 years']:.2f} s "
                f"({r['html bytes']} bytes of HTML)"
            )
            met = met and r["10 years"][0] < 1.0
            met = met and r["1 year same"] and r["10 years same"]
    print(
        "target (10 years < 1 s wall on each database, figures equal): "
        + ("met" if met else "NOT met")
    )
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0 if met else 2


if __name__ == "__main__":
    raise SystemExit(main())
