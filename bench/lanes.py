"""Lanes: a known carer's report sent during a junk flood, 250 to the social worker's alert.

`mailbridge serve` runs as its own process (SQLite by default, ``--database-url`` for
PostgreSQL) with MAILBRIDGE_RELAY_URL pointing at an aiosmtpd sink in this process. Four
clients send ``--junk`` messages from strangers (not reports: they are read, put on the triage
list, and cost processing but no alert) as fast as they can; once ``--head-start`` of them are
stored, one more client sends ``--reports`` reports from the fixture directory's carers, one
every ``--gap`` seconds. For each report:

    latency = arrival of its social worker's alert at the sink - the 250 for its sendmail()

Prints p50, p99 and max over the reports (target: p99 under 1 s), how far the junk had got
when the last report's alert arrived, and checks that nothing was lost or doubled: every sent
message stored once and finished, every alert of a report at the sink exactly once.

With ``--backlog N`` (and ``--junk 0``) the load is an IMAP backlog instead: a Dovecot of its
own (tests/support/dovecot.py) holds N messages from strangers, sent a week before, before
serve starts (a weekend outage), and serve drains them with its IMAP watcher. The reports go
to serve's SMTP listener (``--report-via smtp``, latency from the 250) or are APPENDed to the
same folder (``--report-via imap``, latency from the APPEND's OK; the watcher fetches a backlog
lane 1 first and looks for newer mail before each batch, so such a report waits for the commit
in progress, not for the backlog: docs/imap.md).

Throughout, the resident memory (VmRSS from /proc) of serve, and of serve with its worker
processes, is sampled every 0.2 s; the peaks are printed (target for serve: under 300 MB).

    .venv/bin/python bench/lanes.py [--junk 2000] [--reports 50] [--workers 1]
    .venv/bin/python bench/lanes.py --junk 0 --backlog 5000 [--report-via smtp|imap]

Figures on a shared, noisy machine only mean something next to the load it was under (printed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from latency import (
    ADDRESS,
    DIRECTORY_CSV,
    Client,
    SinkHandler,
    free_port,
    percentile,
    report,
    serve_env,
    stop_serve,
    wait_listening,
)


class CountingSink(SinkHandler):
    """Every alert's first arrival (perf_counter) and how many times it came."""

    def __init__(self) -> None:
        super().__init__()
        self.count: dict[str, int] = {}

    def record(self, mid: str, at: float) -> None:
        super().record(mid, at)
        with self.lock:
            self.count[mid] = self.count.get(mid, 0) + 1


def junk(run: str, n: int) -> tuple[str, str, bytes]:
    mid = f"junk-{run}-{n}@spam.example"
    sender = f"offers{n % 97}@spam{n % 13}.example"
    raw = (
        f"From: Great Offers <{sender}>\r\nTo: {ADDRESS}\r\nSubject: You have won {n}\r\n"
        f"Message-ID: <{mid}>\r\nDate: {formatdate(localtime=False)}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "Claim your prize today. Cheap watches, loans and more. " * 20
        + f"\r\nRef {n}\r\n"
    ).encode()
    return mid, sender, raw


def rss_kb(pid: int) -> int:
    """VmRSS of one process in kB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        here = todo.pop()
        try:
            tasks = list(Path(f"/proc/{here}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


class MemoryProbe(threading.Thread):
    """Peak VmRSS of serve alone and of serve plus its descendants (the worker processes)."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.serve_peak = self.tree_peak = self.samples = 0
        self.children_seen = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            own = rss_kb(self.pid)
            kids = descendants(self.pid)
            self.children_seen = max(self.children_seen, len(kids))
            tree = own + sum(rss_kb(k) for k in kids)
            self.serve_peak = max(self.serve_peak, own)
            self.tree_peak = max(self.tree_peak, tree)
            self.samples += 1
            self.done.wait(self.every)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junk", type=int, default=2000, help="junk messages (2000)")
    parser.add_argument("--reports", type=int, default=50, help="carers' reports (50)")
    parser.add_argument("--gap", type=float, default=0.4, help="seconds between reports")
    parser.add_argument("--head-start", type=int, default=200, help="junk stored before reports")
    parser.add_argument("--workers", type=int, default=1, help="processing.worker_processes")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--backlog", type=int, default=0, help="IMAP backlog messages (0)")
    parser.add_argument("--report-via", choices=["smtp", "imap"], default="smtp")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.report_via == "imap" and not args.backlog:
        parser.error("--report-via imap needs --backlog")

    dovecot = None
    user = ""
    if args.backlog:
        from imap import make_message

        from tests.support.dovecot import Dovecot, dovecot_binary

        binary = dovecot_binary()
        if binary is None:
            raise SystemExit("dovecot is not installed")
        dovecot = Dovecot(binary).start()
        user = dovecot.new_user()
        backlog_run = f"b{int(time.time())}"
        filler = dovecot.client(user)
        began = time.perf_counter()
        for start in range(0, args.backlog, 250):
            end = min(start + 250, args.backlog)
            filler.multiappend("INBOX", [make_message(backlog_run, i) for i in range(start, end)])
        filler.logout()
        print(f"backlog: {args.backlog} messages APPENDed in {time.perf_counter() - began:.1f} s")

    sink_handler = CountingSink()
    sink = Controller(sink_handler, hostname="127.0.0.1", port=free_port())
    sink.start()
    tmp = Path(tempfile.mkdtemp(prefix="mb-lanes-"))
    url = args.database_url or f"sqlite:///{tmp / 'data' / 'mailbridge.db'}"
    config = tmp / "mailbridge.toml"
    config.write_text(
        "[smtp]\nrate_limit_per_sender = 0\nrate_limit_per_ip = 0\nmax_connections = 200\n"
        f"[processing]\nworker_processes = {args.workers}\ntimer_seconds = 3600\n",
        encoding="utf-8",
    )
    port = free_port()
    env = serve_env(url, tmp / "data", port, sink.port)
    if dovecot is not None:
        env["MAILBRIDGE_IMAP_URL"] = dovecot.url(user)
    command = [sys.executable, "-m", "mailbridge", "--config", str(config)]
    if args.database_url:
        subprocess.run([*command, "db", "upgrade"], env=env, cwd=tmp, check=True)
    subprocess.run(
        [*command, "directory", "import", str(DIRECTORY_CSV)],
        env=env,
        cwd=tmp,
        capture_output=True,
        check=True,
    )
    db = create_engine(url)
    log = open(tmp / "serve.err", "wb")  # noqa: SIM115 - closed after serve exits
    proc = subprocess.Popen([*command, "serve"], env=env, cwd=tmp, stderr=log, stdout=log)
    memory = MemoryProbe(proc.pid)
    memory.start()
    run = str(int(time.time()))
    try:
        wait_listening(proc, port, tmp / "serve.err", 60)
        backend = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: serve on {backend}, "
            f"worker_processes={args.workers}; junk {args.junk}, IMAP backlog {args.backlog}, "
            f"{args.reports} reports via {args.report_via}; {load()}"
        )

        def count_rows() -> int:
            with db.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM inbound_messages")).scalar_one())

        stored = [0]
        junk_done = threading.Event()

        def flood(index: int) -> None:
            client = Client(port)
            for n in range(index, args.junk, 4):
                _, sender, raw = junk(run, n)
                client.send(sender, raw)
                stored[0] += 1
            client.close()

        acks: dict[str, float] = {}

        def carers() -> None:
            if args.backlog:
                while count_rows() < args.head_start:
                    time.sleep(0.05)
            while stored[0] < args.head_start and not junk_done.is_set():
                time.sleep(0.01)
            if args.report_via == "imap":
                assert dovecot is not None
                appender = dovecot.client(user)
                for n in range(args.reports):
                    mid, _, raw = report(run, n)
                    appender.append("INBOX", raw)
                    acks[mid] = time.perf_counter()
                    time.sleep(args.gap)
                appender.logout()
                return
            client = Client(port)
            for n in range(args.reports):
                mid, carer, raw = report(run, n)
                acks[mid] = client.send(carer, raw)
                time.sleep(args.gap)
            client.close()

        started = time.perf_counter()
        flooders = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
        reporter = threading.Thread(target=carers)
        for t in [*flooders, reporter]:
            t.start()
        for t in flooders:
            t.join()
        junk_done.set()
        flood_sent = time.perf_counter() - started
        reporter.join()

        def social_worker_alerts() -> dict[str, str]:
            with db.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT m.message_id, a.message_id FROM alerts a "
                        "JOIN inbound_messages m ON m.id = a.inbound_id "
                        "WHERE a.role = 'social_worker'"
                    )
                ).all()
            return {r[0]: r[1] for r in rows if r[0] in acks}

        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            alerts = social_worker_alerts()
            with sink_handler.lock:
                arrived = all(a in sink_handler.arrivals for a in alerts.values())
                if len(alerts) == len(acks) and arrived:
                    break
            time.sleep(0.05)
        else:
            raise SystemExit("the reports' alerts did not all arrive within 900 s")
        last_alert = max(sink_handler.arrivals[a] for a in alerts.values())
        with db.connect() as conn:
            load_stored_then, load_finished_then = conn.execute(
                text(
                    "SELECT count(*), coalesce(sum(CASE WHEN status <> 'pending' THEN 1 ELSE 0 "
                    "END), 0) FROM inbound_messages WHERE message_id NOT LIKE :p"
                ),
                {"p": f"lat-{run}-%"},
            ).one()
        latencies = [(sink_handler.arrivals[alerts[mid]] - at) * 1000 for mid, at in acks.items()]
        if args.junk:
            print(f"junk: {args.junk} sent in {flood_sent:.1f} s ({args.junk / flood_sent:.0f}/s)")
        print(
            f"when the last report's alert arrived ({last_alert - started:.1f} s after the "
            f"start), {load_stored_then} of the {args.junk + args.backlog} junk/backlog messages "
            f"were stored and {load_finished_then} finished"
        )
        p99 = percentile(latencies, 99)
        slowest = sorted(range(len(latencies)), key=lambda i: -latencies[i])[:3]
        print(
            "slowest: "
            + ", ".join(f"report #{i} (of {len(latencies)}) {latencies[i]:.0f} ms" for i in slowest)
        )
        print(
            f"carer's report -> social worker's alert over {len(latencies)} reports: "
            f"p50={percentile(latencies, 50):.0f} ms p99={p99:.0f} ms max={max(latencies):.0f} ms"
            f"  target p99<1000 ms: {'met' if p99 < 1000 else 'NOT met'}"
        )

        # Drain everything, then check nothing was lost or doubled.
        sent_total = args.junk + args.backlog + args.reports
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            with db.connect() as conn:
                busy = conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM inbound_messages WHERE status='pending') + "
                        "(SELECT count(*) FROM alerts WHERE status='queued')"
                    )
                ).scalar_one()
            if busy == 0 and count_rows() >= sent_total:
                break
            time.sleep(0.5)
        drained = time.perf_counter() - started
        left_in_folder = -1
        if dovecot is not None:
            probe = dovecot.client(user)
            left_in_folder = int(probe.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])
            probe.logout()
        with db.connect() as conn:
            stored_rows = conn.execute(
                text("SELECT count(*), count(DISTINCT message_id) FROM inbound_messages")
            ).one()
            report_alerts = conn.execute(
                text(
                    "SELECT a.message_id, a.status FROM alerts a JOIN inbound_messages m "
                    "ON m.id = a.inbound_id WHERE m.message_id LIKE :p"
                ),
                {"p": f"lat-{run}-%"},
            ).all()
        doubled = [m for m, c in sink_handler.count.items() if c > 1]
        missing = [m for m, s in report_alerts if m not in sink_handler.arrivals or s != "sent"]
        ok = stored_rows[0] == stored_rows[1] == sent_total and not doubled and not missing
        if dovecot is not None:
            ok = ok and left_in_folder == 0
            print(f"IMAP folder: {left_in_folder} messages left")
        print(
            f"all drained {drained:.1f} s after the start; stored {stored_rows[0]} rows for "
            f"{sent_total} messages sent ({stored_rows[1]} distinct); report alerts "
            f"{len(report_alerts)}, missing or unsent {len(missing)}, doubled at the sink "
            f"{len(doubled)}: {'nothing lost or doubled' if ok else 'LOST OR DOUBLED'}"
        )
        print(f"after: {load()}")
        memory.done.set()
        memory.join()
        print(
            f"resident memory (VmRSS, {memory.samples} samples every {memory.every} s): serve "
            f"peak {memory.serve_peak / 1024:.0f} MB; serve with its {memory.children_seen} "
            f"child process(es) peak {memory.tree_peak / 1024:.0f} MB  target serve<300 MB: "
            f"{'met' if memory.serve_peak < 300 * 1024 else 'NOT met'}"
        )
        return 0 if ok else 1
    finally:
        memory.done.set()
        stop_serve(proc, 60)
        if dovecot is not None:
            if args.keep:
                print(f"kept {dovecot.root}")
                dovecot.stop()
            else:
                dovecot.stop()
                dovecot.cleanup()
        log.close()
        db.dispose()
        sink.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
