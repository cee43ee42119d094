"""The web app's Now page at scale, and what busy pages cost the SMTP listener.

Part 1, the Now page: a store with ``--children`` children, ``--closed`` returned episodes
(each with its acknowledgement and its finished timers) and ``--open`` open episodes (each with
pending escalations, half of them acknowledged); PostgreSQL is ANALYZEd after the fill, as
autovacuum would. Then, signed in as the duty desk, ``--requests`` rounds of three requests
through the real app on uvicorn, one after another, after 5 warm-up rounds: a bare Starlette app
answering the Now page's own bytes (the baseline), ``GET /episodes``, and the page's poll
(``?fragment=1`` with ``If-None-Match``, answered 304). Taking them in turn puts a burst of
load on all three alike. For each it prints wall p50/p95/max and this process's CPU time per
request (client and server both run here), the page/baseline ratios, the CPU of the page's parts
(sign-in, query, rendering), and on PostgreSQL the server's own execution time of the page's
statements (EXPLAIN ANALYZE), which the CPU figure does not include. The goal is wall p95 under
100 ms; on a shared machine the CPU time and the ratio are the figures to compare.

Part 2, the listener (SQLite only): ``--mails`` reports sent one at a time to a real
`mailbridge serve` with ``[web] enabled = true``, first with the web app idle, then while
``--pollers`` clients ask for the Now page and the Figures page without pause. It prints the
median SMTP round trip (connect, MAIL, RCPT, DATA, 250, QUIT) of each and their ratio; the goal
is a ratio near 1 (the app runs on its own thread and event loop).

    .venv/bin/python bench/web_now.py                                  # SQLite only
    .venv/bin/python bench/web_now.py --pg-url postgresql+psycopg://postgres@127.0.0.1/scratch
    .venv/bin/python bench/web_now.py --skip-listener --reuse --sqlite-path /tmp/now.db \
        --pg-url postgresql+psycopg://postgres@127.0.0.1/scratch      # again, without refilling

The PostgreSQL database named by --pg-url (or MAILBRIDGE_BENCH_DATABASE_URL) is a SCRATCH
database: its public schema is dropped first (with --reuse, only when it does not hold the
episodes asked for).
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
from sqlalchemy import Engine, func, insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from mailbridge.settings.config import Settings, load_settings  # noqa: E402
from mailbridge.store import accounts, db, tx  # noqa: E402
from mailbridge.store.models import (  # noqa: E402
    Acknowledgement,
    Allocation,
    Child,
    DueAction,
    Episode,
    Placement,
    WebSession,
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


class _Bare:
    """The baseline: a bare Starlette app on uvicorn, in this process, answering one fixed HTML
    body (the Now page's own bytes) to the same kind of client. What the machine charges for an
    HTTP round trip of that size, measured in the same minutes as the page."""

    def __init__(self, body: bytes) -> None:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.responses import Response
        from starlette.routing import Route

        async def bare(request: Any) -> Response:
            return Response(body, media_type="text/html")

        self.config = uvicorn.Config(
            Starlette(routes=[Route("/bare", bare)]), host="127.0.0.1", port=free_port(),
            log_level="warning", access_log=False, lifespan="off",
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.config.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _timed(client: httpx.Client, path: str, **kw: Any) -> tuple[httpx.Response, float, float]:
    """One request: the response, its wall time and this process's CPU time (client and server
    both run here, so the CPU covers both ends; PostgreSQL's own work is another process)."""
    c, w = time.process_time(), time.perf_counter()
    response = client.get(path, **kw)
    return response, (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * q + 0.5) - 1)]


def _line(name: str, wall: list[float], cpu: list[float]) -> str:
    return (f"{name:<28} wall p50 {statistics.median(wall):7.1f}  p95 {_p(wall, 0.95):7.1f}  "
            f"max {max(wall):7.1f} ms | CPU p50 {statistics.median(cpu):6.1f}  "
            f"p95 {_p(cpu, 0.95):6.1f} ms")


def _ready(label: str, url: str, args: argparse.Namespace) -> Engine:
    """The database filled (or, with --reuse, found filled) and at the schema's head."""
    engine = db.make_engine(url)
    if args.reuse:
        db.upgrade(engine)
        with Session(engine) as s:
            have = s.scalar(select(func.count()).select_from(Episode))
        if have == args.closed + args.open:
            print(f"{label}: reusing the filled database ({have} episodes)")
            return engine
        print(f"{label}: --reuse found {have} episodes, not {args.closed + args.open}: refilling")
        engine.dispose()
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        else:
            reset_postgres(url)
        engine = db.make_engine(url)
    db.upgrade(engine)
    started = time.perf_counter()
    fill(engine, children=args.children, closed=args.closed, open_=args.open)
    if engine.dialect.name == "postgresql":
        # What autovacuum does to a live database soon after a load this size: the planner
        # needs the tables' sizes to choose index probes over scans.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"{label}: filled in {time.perf_counter() - started:.1f} s "
          f"({args.open} open, {args.closed} closed, {args.children} children)")
    return engine


def now_page(label: str, url: str, data: Path, args: argparse.Namespace) -> dict[str, float]:
    """GET /episodes, the poll (?fragment=1 with If-None-Match) and the bare baseline, taken in
    turn request by request, so a burst of load on the machine falls on all three alike."""
    engine = _ready(label, url, args)
    settings = _settings(url, data, MAILBRIDGE_WEB_PORT="0")
    server = WebServer(settings, engine, clock=lambda: NOW)
    host, port = server.start()
    page: dict[str, list[float]] = {k: [] for k in ("page_w", "page_c", "poll_w", "poll_c")}
    bare: dict[str, list[float]] = {"w": [], "c": []}
    load = [os.getloadavg()[0]]
    try:
        client = login(f"http://{host}:{port}", "duty", "bench password")
        first = client.get("/episodes")
        assert first.text.count('href="/episodes/MB-') == args.open
        # An app without ETags (before this bench's change) answers every poll in full.
        etag = client.get("/episodes?fragment=1").headers.get("etag", '"none"')
        unchanged = 0
        with _Bare(first.content) as bare_base, httpx.Client(base_url=bare_base) as plain:
            for i in range(args.requests + 5):
                b, bw, bc = _timed(plain, "/bare")
                r, rw, rc = _timed(client, "/episodes")
                q, qw, qc = _timed(client, "/episodes?fragment=1",
                                   headers={"If-None-Match": etag})
                assert b.status_code == 200 and len(b.content) == len(first.content)
                assert r.status_code == 200, r.status_code
                assert r.text.count('href="/episodes/MB-') == args.open
                assert q.status_code in (200, 304), q.status_code
                unchanged += q.status_code == 304
                if i >= 5:  # warm-up: connections, the row cache, SQLite's page cache
                    bare["w"].append(bw)
                    bare["c"].append(bc)
                    page["page_w"].append(rw)
                    page["page_c"].append(rc)
                    page["poll_w"].append(qw)
                    page["poll_c"].append(qc)
                if i % 10 == 0:
                    load.append(os.getloadavg()[0])
    finally:
        server.stop()
    parts = _page_parts(settings, engine, args.requests)
    pg = _pg_statements(engine) if engine.dialect.name == "postgresql" else None
    lite = _sqlite_scans(engine) if engine.dialect.name == "sqlite" else None
    engine.dispose()
    wall_ratio = statistics.median(page["page_w"]) / statistics.median(bare["w"])
    cpu_ratio = statistics.median(page["page_c"]) / statistics.median(bare["c"])
    p95 = _p(page["page_w"], 0.95)
    print(f"{label}: {len(first.content):,} bytes; {args.requests} requests of each, in turn; "
          f"load average {min(load):.1f} to {max(load):.1f} on {os.cpu_count()} cores")
    print(f"  {_line('bare Starlette, same bytes', bare['w'], bare['c'])}")
    print(f"  {_line('GET /episodes', page['page_w'], page['page_c'])}")
    print(f"  {_line('poll, If-None-Match', page['poll_w'], page['poll_c'])}"
          f" ({unchanged} of {args.requests + 5} answered 304)")
    print(f"  ratio page / bare: wall p50 x{wall_ratio:.2f}, CPU p50 x{cpu_ratio:.2f}")
    print(f"  in-thread CPU of the page's parts, p50: sign-in {parts['session']:.1f} ms, "
          f"query {parts['query']:.1f} ms, render (rows cached) {parts['render']:.1f} ms, "
          f"render (cold, first) {parts['cold']:.1f} ms")
    if lite is not None:
        print(f"  SQLite plan (EXPLAIN QUERY PLAN): {lite[0]} statements; SCAN steps (a whole "
              f"table or subquery result): {', '.join(lite[1]) or 'none'}")
    if pg is not None:
        print(f"  PostgreSQL's own execution time of the page's statements (EXPLAIN ANALYZE, "
              f"p50 of 5): {pg[0]:.1f} ms; sequential scans: {', '.join(pg[1]) or 'none'}")
    print(f"  -> {'MET' if p95 < 100 else 'MISSED'}: goal wall p95 < 100 ms (p95 {p95:.1f} ms; "
          f"CPU p50 {statistics.median(page['page_c']):.1f} ms)")
    return {"p95": p95}


def _page_parts(settings: Settings, engine: Engine, n: int) -> dict[str, float]:
    """What each part of one Now page costs this thread in CPU, whatever the machine is doing."""
    from mailbridge.store import views
    from mailbridge.web.core import WebApp

    app = WebApp(settings, engine, clock=lambda: NOW)
    template = app.env.get_template("now_table.html")
    reader = getattr(app, "reader", engine)  # older apps: the plain engine
    rows_of = getattr(app, "now_rows", None)  # older apps: the template renders the rows

    def render(rows: list[Any], fresh: bool) -> None:
        if rows_of is None:
            template.render(rows=rows, now=NOW, scope=None)
            return
        formatter = rows_of
        if fresh:  # an empty row cache: the cost when every row is new
            formatter = type(rows_of)(
                app.local, risk_label=rows_of.risk_label, action_label=rows_of.action_label,
                duration=rows_of.duration,
            )
        template.render(rows=rows, now=NOW, scope=None, body=formatter.html(rows, NOW))

    with Session(engine) as s:
        token = s.scalars(select(WebSession.id)).first()  # the bench's own session, hashed
    assert token is not None
    out: dict[str, list[float]] = {"session": [], "query": [], "render": [], "cold": []}
    for i in range(n):
        t0 = time.thread_time()
        with tx.write(engine) as s:
            accounts.find_session(s, token, now=NOW, idle=timedelta(hours=1))
        t1 = time.thread_time()
        with tx.read(reader) as s:
            rows = views.open_episodes(s, today=NOW.date(), scope=None)
        t2 = time.thread_time()
        if i < 3:
            render(rows, fresh=True)
            out["cold"].append((time.thread_time() - t2) * 1000)
            continue
        render(rows, fresh=False)
        t3 = time.thread_time()
        out["session"].append((t1 - t0) * 1000)
        out["query"].append((t2 - t1) * 1000)
        out["render"].append((t3 - t2) * 1000)
    return {k: statistics.median(v) for k, v in out.items()}


def _statements(engine: Engine) -> list[tuple[str, Any]]:
    """The SELECT statements one Now page runs, with their parameters."""
    from sqlalchemy import event

    from mailbridge.store import views

    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", keep)
    with Session(engine) as s:
        views.open_episodes(s, today=NOW.date(), scope=None)
    event.remove(engine, "before_cursor_execute", keep)
    return seen


def _sqlite_scans(engine: Engine) -> tuple[int, list[str]]:
    seen = _statements(engine)
    with engine.connect() as conn:
        plan = [row[3] for statement, params in seen
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
    return len(seen), [p for p in plan if p.startswith("SCAN")]


def _pg_statements(engine: Engine) -> tuple[float, list[str]]:
    """PostgreSQL's execution time for the Now page's statements, as EXPLAIN ANALYZE reports it,
    and the tables it read whole (sequential scans), with their row counts."""
    seen = _statements(engine)
    runs, scans = [], []

    def walk(node: dict[str, Any]) -> None:
        if node["Node Type"] == "Seq Scan":
            scans.append(f"{node['Relation Name']} ({node['Actual Rows']:,} rows)")
        for child in node.get("Plans", []):
            walk(child)

    with engine.connect() as conn:
        for i in range(5):
            total = 0.0
            for statement, params in seen:
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
                found = plan.scalar_one()[0]
                total += found["Execution Time"]
                if i == 0:
                    walk(found["Plan"])
            runs.append(total)
    return statistics.median(runs), scans


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
    parser.add_argument("--sqlite-path", default="",
                        help="keep the SQLite database here (default: a temporary directory)")
    parser.add_argument("--reuse", action="store_true",
                        help="use the databases as found when they hold the episodes asked for "
                             "(the fill takes minutes on PostgreSQL); else refill them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mb-web-bench-") as tmp:
        data = Path(tmp)
        if args.listener_only:
            listener(data, args)
            return 0
        sqlite_file = Path(args.sqlite_path) if args.sqlite_path else data / "now.db"
        results = {"sqlite": now_page("sqlite", f"sqlite:///{sqlite_file}", data / "a", args)}
        if args.pg_url:
            if not args.reuse:
                reset_postgres(args.pg_url)
            results["postgresql"] = now_page("postgresql", args.pg_url, data / "b", args)
        if not args.skip_listener:
            listener(data, args)
    met = all(r["p95"] < 100 for r in results.values())
    return 0 if met else 2


if __name__ == "__main__":
    sys.exit(main())
