"""SSDA903 export at scale: a whole collection year of episodes, selected, checked and written.

Fills a fresh database with ``--children`` children and ``--n`` episodes spread over one
collection year (no child overlaps itself), then times `mailbridge export ssda903` as an operator
runs it (the CLI in-process, to a file). The target is a few seconds for 100,000 episodes.

    .venv/bin/python bench/ssda903.py [--n 100000] [--children 5000] [--url postgresql+psycopg://…]

Without ``--url`` the database is SQLite in a temporary directory. With ``--url`` the public
schema of that database is DROPPED first: point it only at a scratch database.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from mailbridge.cli import main
from mailbridge.store import db
from mailbridge.store.models import Child, Episode

YEAR_START = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def fill(url: str, n: int, children: int) -> None:
    engine = db.make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    db.upgrade(engine)
    per_child = max(1, n // children)
    slot = timedelta(days=360) / per_child  # each child's episodes one after another
    kids = [
        {
            "child_id": f"{100000 + c}",
            "first_name": "Test",
            "last_name": f"Child{c}",
            "date_of_birth": date(2010, 1, 1),
            "carer_emails": [],
            "attributes": {},
            "updated_at": NOW,
        }
        for c in range(children)
    ]
    rows = []
    for i in range(n):
        c, k = i % children, i // children
        start = YEAR_START + timedelta(hours=12) + slot * k + timedelta(minutes=c % 600)
        rows.append(
            {
                "reference": f"MB-2026-{i + 1:06d}",
                "child_id": f"{100000 + c}",
                "status": "returned",
                "opened_at": start + timedelta(hours=1),
                "last_seen_at": start,
                "returned_at": start + min(slot / 2, timedelta(hours=30)),
                "sender_known": True,
                "allocations": {},
                "absence_type": "A" if i % 7 == 0 else "M",
                "updated_at": NOW,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(Child), kids)
        for chunk in range(0, len(rows), 10_000):
            conn.execute(insert(Episode), rows[chunk : chunk + 10_000])
    engine.dispose()


def main_bench() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--children", type=int, default=5_000)
    parser.add_argument("--url", help="scratch database URL (its public schema is dropped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mb-ssda903-") as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        fill(url, args.n, args.children)
        print(f"filled {args.n} episodes in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        os.environ["MAILBRIDGE_DATABASE_URL"] = url
        os.environ["MAILBRIDGE_DATA_DIR"] = tmp
        config = Path(tmp) / "mailbridge.toml"
        config.write_text("", encoding="utf-8")
        out = Path(tmp) / "missing.csv"
        t0 = time.perf_counter()
        code = main(
            ["--config", str(config), "export", "ssda903", "--year", "2026", "--out", str(out)]
        )
        elapsed = time.perf_counter() - t0
        lines = out.read_text(encoding="utf-8").count("\n") - 1 if out.exists() else 0
        print(f"export: exit {code}, {lines} rows, {elapsed:.2f} s")
        return 0 if code == 0 and lines == args.n else 1


if __name__ == "__main__":
    sys.exit(main_bench())
