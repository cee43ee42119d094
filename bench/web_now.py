"""The web app's Now page at scale, and what busy pages cost the SMTP listener.

Part 1, the Now page: a fresh store with ``--children`` children, ``--closed`` returned episodes
(each with its acknowledgement and its finished timers) and ``--open`` open episodes (each with
pending escalations, half of them acknowledged). Then, signed in as the duty desk, ``--requests``
GETs of ``/episodes`` through the real app on uvicorn, one after another, after a few warm-up
requests. It prints p50, p95 and max per database; the goal is p95 under 100 ms.

Part 2, the listener (SQLite only): ``--mails`` reports sent one at a time to a real
`mailbridge serve` with ``[web] enabled = true``, first with the web app idle, then while
``--pollers`` clients ask for the Now page and the Figures page without pause. It prints the
median SMTP round trip (connect, MAIL, RCPT, DATA, 250, QUIT) of each and their ratio; the goal
is a ratio near 1 (the app runs on its own thread and event loop).

    .venv/bin/python bench/web_now.py                                  # SQLite only
    .venv/bin/python bench/web_now.py --pg-url postgresql+psycopg://postgres@127.0.0.1/scratch

The PostgreSQL database named by --pg-url (or MAILBRIDGE_BENCH_DATABASE_URL) is a SCRATCH
database: its public schema is dropped first.
"""

from __future__ import annotations

import argparse
import os
import random
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import Engine, insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from mailbridge.settings.config import Settings, load_settings  # noqa: E402
from mailbridge.store import accounts, db  # noqa: E402
from mailbridge.store.models import (  # noqa: E402
    Acknowledgement,
    Allocation,
    Child,
    DueAction,
    Episode,
    Placement,
)
from mailbridge.web import auth  # noqa: E402
from mailbridge.web.server import WebServer  # noqa: E402
from tests.support.env import RunningService, reset_postgres  # noqa: E402
from tests.support.web import free_port, login  # noqa: E402

NOW = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
BATCH = 5000


def _settings(url: str, data: Path, **extra: str) -> Settings:
    env = {
        "MAILBRIDGE_DATABASE_URL": url,
        "MAILBRIDGE_DATA_DIR": str(data),
        "MAILBRIDGE_ADDRESSES": "missing@council.example",
        "MAILBRIDGE_SMTP_PORT": "0",
        **extra,
    }
    return load_settings(None, env)


def _bulk(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), BATCH):
        session.execute(insert(table), rows[i : i + BATCH])


def fill(engine: Engine, *, children: int, closed: int, open_: int) -> None:
    rnd = random.Random(16)
    with Session(engine) as s, s.begin():
        _bulk(s, Placement, [{"name": f"Placement {i}"} for i in range(200)])
        places = list(s.scalars(select(Placement.id)))
        _bulk(s, Child, [
            {"child_id": f"C{i:06d}", "first_name": f"First{i}", "last_name": f"Last{i}",
             "date_of_birth": datetime(2008 + i % 10, 1 + i % 12, 1 + i % 28).date(),
             "placement_id": places[i % len(places)], "carer_emails": [f"carer{i}@x.example"],
             "attributes": {}, "updated_at": NOW}
            for i in range(children)
        ])
        _bulk(s, Allocation, [
            {"child_id": f"C{i:06d}", "role": "social_worker", "name": f"Worker {i % 90}",
             "email": f"sw{i % 90}@council.example", "valid_from": NOW - timedelta(days=900),
             "valid_to": None}
            for i in range(children)
        ])

        def episode(n: int, status: str) -> dict[str, Any]:
            opened = NOW - timedelta(hours=rnd.randint(1, 24 * 365 * 3))
            if status == "open":
                opened = NOW - timedelta(minutes=rnd.randint(5, 60 * 72))
            return {
                "reference": f"MB-{opened.year}-{n:06d}", "child_id": f"C{n % children:06d}",
                "status": status, "opened_at": opened, "last_seen_at": opened,
                "returned_at": opened + timedelta(hours=5) if status == "returned" else None,
                "risk_level": rnd.choice(["high", "medium", "low", None]),
                "sender_known": True, "allocations": {}, "absence_type": "M",
                "updated_at": opened, "needs_confirmation": False,
            }

        _bulk(s, Episode, [episode(n, "returned") for n in range(closed)])
        _bulk(s, Episode, [episode(closed + n, "open") for n in range(open_)])
        ids = list(s.execute(select(Episode.id, Episode.status, Episode.opened_at)))
        acks, dues = [], []
        for eid, status, opened in ids:
            if status == "returned" or eid % 2:
                acks.append({"episode_id": eid, "role": "social_worker",
                             "address": "sw@council.example", "at": opened + timedelta(minutes=9)})
            for k, kind in enumerate(("escalate_team_manager", "escalate_duty", "still_missing")):
                dues.append({
                    "key": f"{kind}:{eid}", "kind": kind, "episode_id": eid,
                    "due_at": opened + timedelta(hours=1 + 2 * k), "roles": ["team_manager"],
                    "note": None, "status": "pending" if status == "open" else "cancelled",
                })
        _bulk(s, Acknowledgement, acks)
        _bulk(s, DueAction, dues)
        accounts.add_account(
            s, username="duty", role="duty", email="duty@council.example", display_name=None,
            password_hash=auth.hash_password("bench password"), now=NOW,
        )


def now_page(label: str, url: str, data: Path, args: argparse.Namespace) -> list[float]:
    engine = db.make_engine(url)
    db.upgrade(engine)
    started = time.perf_counter()
    fill(engine, children=args.children, closed=args.closed, open_=args.open)
    print(f"{label}: filled in {time.perf_counter() - started:.1f} s "
          f"({args.open} open, {args.closed} closed, {args.children} children)")
    settings = _settings(url, data, MAILBRIDGE_WEB_PORT="0")
    server = WebServer(settings, engine, clock=lambda: NOW)
    host, port = server.start()
    times: list[float] = []
    try:
        client = login(f"http://{host}:{port}", "duty", "bench password")
        for i in range(args.requests + 5):
            t = time.perf_counter()
            response = client.get("/episodes")
            elapsed = time.perf_counter() - t
            assert response.status_code == 200, response.status_code
            assert response.text.count('href="/episodes/MB-') == args.open
            if i >= 5:
                times.append(elapsed * 1000)
    finally:
        server.stop()
        engine.dispose()
    cpu = _page_cpu(settings, url, args.requests)
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"{label}: GET /episodes p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
          f"max {times[-1]:.1f} ms over {len(times)} requests -> "
          f"{'MET' if p95 < 100 else 'MISSED'} (goal p95 < 100 ms); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{label}: CPU time of the page's work in this process (session, query, render), "
          f"median {statistics.median(cpu):.1f} ms (a busy machine stretches the wall time, not "
          "this; on PostgreSQL the server's own time is not in it)")
    return times


def _page_cpu(settings: Settings, url: str, n: int) -> list[float]:
    """What one Now page costs this process in CPU, whatever else the machine is doing."""
    from mailbridge.store import views
    from mailbridge.web.core import WebApp

    engine = db.make_engine(url)
    app = WebApp(settings, engine, clock=lambda: NOW)
    template = app.env.get_template("now_table.html")
    out = []
    try:
        for _ in range(n):
            t = time.thread_time()
            with Session(engine) as s:
                rows = views.open_episodes(s, today=NOW.date(), scope=None)
            template.render(rows=rows, now=NOW, scope=None)
            out.append((time.thread_time() - t) * 1000)
    finally:
        engine.dispose()
    return out


def _smtp_round_trips(host: str, port: int, n: int, tag: str) -> list[float]:
    out = []
    for i in range(n):
        sender = f"carer-{tag}{i}@homes.example"  # one each: under smtp.rate_limit_per_sender
        raw = (f"From: {sender}\r\nTo: missing@council.example\r\n"
               f"Subject: Missing child {tag}{i}\r\nMessage-ID: <bench-{tag}-{i}@x>\r\n\r\n"
               f"A child called Sam has not come home ({tag}{i}).\r\n").encode()
        t = time.perf_counter()
        with smtplib.SMTP(host, port, timeout=30) as c:
            c.sendmail(sender, ["missing@council.example"], raw)
        out.append((time.perf_counter() - t) * 1000)
    return out


def listener(data: Path, args: argparse.Namespace) -> None:
    url = f"sqlite:///{data / 'listener.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    fill(engine, children=2000, closed=20000, open_=args.open)
    engine.dispose()
    web_port = free_port()
    settings = _settings(url, data / "serve", MAILBRIDGE_WEB_ENABLED="true",
                         MAILBRIDGE_WEB_PORT=str(web_port))
    svc = RunningService(settings).start()
    stop = threading.Event()
    try:
        idle = _smtp_round_trips(svc.host, svc.port, args.mails, "idle")
        pages = [0]
        failed = [0]  # requests that raised: counted, so a page that errors is not hidden

        def poll() -> None:
            client = login(f"http://127.0.0.1:{web_port}", "duty", "bench password")
            while not stop.is_set():
                for path in ("/episodes", "/figures?start=2024-01-01&end=2026-11-26"):
                    try:
                        client.get(path, timeout=120)
                        pages[0] += 1
                    except httpx.HTTPError:
                        failed[0] += 1

        # daemon threads, and stop set in finally: a failed send must not leave them polling
        pollers = [threading.Thread(target=poll, daemon=True) for _ in range(args.pollers)]
        for t in pollers:
            t.start()
        time.sleep(1.0)
        busy = _smtp_round_trips(svc.host, svc.port, args.mails, "busy")
        stop.set()
        for t in pollers:
            t.join(180)
    finally:
        stop.set()
        svc.stop()
    a, b = statistics.median(idle), statistics.median(busy)
    print(f"listener: SMTP round trip median {a:.1f} ms with the web app idle, {b:.1f} ms "
          f"while {args.pollers} clients loaded {pages[0]} pages (Now and a 3-year Figures; "
          f"{failed[0]} failed); "
          f"ratio busy/idle {b / a:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url", default=os.environ.get("MAILBRIDGE_BENCH_DATABASE_URL", ""))
    parser.add_argument("--open", type=int, default=500)
    parser.add_argument("--closed", type=int, default=100_000)
    parser.add_argument("--children", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--mails", type=int, default=40)
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--skip-listener", action="store_true")
    parser.add_argument("--listener-only", action="store_true", help="part 2 alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mb-web-bench-") as tmp:
        data = Path(tmp)
        if args.listener_only:
            listener(data, args)
            return 0
        results = {"sqlite": now_page("sqlite", f"sqlite:///{data / 'now.db'}", data / "a", args)}
        if args.pg_url:
            reset_postgres(args.pg_url)
            results["postgresql"] = now_page("postgresql", args.pg_url, data / "b", args)
        if not args.skip_listener:
            listener(data, args)
    met = all(sorted(t)[int(len(t) * 0.95) - 1] < 100 for t in results.values())
    return 0 if met else 2


if __name__ == "__main__":
    sys.exit(main())
