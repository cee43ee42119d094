"""Alert latency: from the SMTP 250 for a report to the moment its LAST alert reaches the relay.

`mailbridge serve` runs as its own process on SQLite (fresh temporary data dir, the fixture
directory imported first), with MAILBRIDGE_RELAY_URL pointing at an aiosmtpd sink inside this
process that records when it accepted each alert (by Message-ID). Afterwards the store says
which alert rows belong to which report, so each report's latency is

    max(sink arrival of its alerts) - (time its own sendmail() got the 250)

Two phases, each drained before the next: a steady rate (default 400 reports at 20/s), then a
burst (default 200 reports as fast as 4 clients can send). Prints p50, p95, p99 and max per
phase. Targets (SQLite): p50 < 100 ms, p99 < 500 ms.

    .venv/bin/python bench/latency.py [--steady 400] [--rate 20] [--burst 200] [--clients 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import formatdate
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[1]
DIRECTORY_CSV = ROOT / "tests" / "fixtures" / "directory.csv"
ADDRESS = "missing@council.example"
# child id, name as a carer writes it, the carer's address (from the fixture directory)
CHILDREN = [
    ("100231", "Jordan Carter", "oakview@homes.example"),
    ("100232", "Chloe Dubois", "riverside.carers@fostering.example"),
    ("100233", "Tyler Hughes", "keyworkers@maplecourt.example"),
    ("100234", "Mia Kowalski", "hillcrest@fostering.example"),
]


class SinkHandler:
    """Records the arrival time (perf_counter) of every alert by its Message-ID."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.times: dict[str, int] = {}  # how many times each Message-ID came
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.perf_counter()
        headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
        self.record(str(headers["Message-ID"]).strip().strip("<>"), at)
        return "250 OK"

    def record(self, mid: str, at: float) -> None:
        with self.lock:
            self.arrivals.setdefault(mid, at)  # a resend keeps the first arrival
            self.times[mid] = self.times.get(mid, 0) + 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(url: str, data_dir: Path, port: int, relay_port: int) -> dict[str, str]:
    """This process's environment without MAILBRIDGE_*, plus serve's store, port and relay."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    env.update(
        {
            "MAILBRIDGE_DATABASE_URL": url,
            "MAILBRIDGE_DATA_DIR": str(data_dir),
            "MAILBRIDGE_SMTP_PORT": str(port),
            "MAILBRIDGE_ADDRESSES": ADDRESS,
            "MAILBRIDGE_RELAY_URL": f"smtp://127.0.0.1:{relay_port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    """Until serve answers on ``port``; exit with the log's path if it dies or is too slow."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve did not start; see {log}") from None
            time.sleep(0.05)


def stop_serve(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, as an operator stops it; killed if it does not stop in time."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def report(run: str, n: int) -> tuple[str, str, bytes]:
    child_id, name, carer = CHILDREN[n % len(CHILDREN)]
    mid = f"lat-{run}-{n}@bench.example"
    raw = (
        f"From: Carer <{carer}>\r\nTo: {ADDRESS}\r\nSubject: {name} missing\r\n"
        f"Message-ID: <{mid}>\r\nDate: {formatdate(localtime=False)}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{name} ({child_id}) has not come home. Last seen at the bus station at 19:00 "
        f"wearing a red coat. Report {n}.\r\n"
    ).encode()
    return mid, carer, raw


class Client:
    """One SMTP connection, reopened every ``per_connection`` messages (as MTAs do)."""

    def __init__(self, port: int, per_connection: int = 50) -> None:
        self.port = port
        self.per_connection = per_connection
        self.smtp: smtplib.SMTP | None = None
        self.used = 0

    def send(self, carer: str, raw: bytes) -> float:
        if self.smtp is None or self.used >= self.per_connection:
            self.close()
            self.smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
            self.used = 0
        self.smtp.sendmail(carer, [ADDRESS], raw)
        self.used += 1
        return time.perf_counter()

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


def steady(port: int, run: str, numbers: range, rate: float, acks: dict[str, float]) -> None:
    client = Client(port)
    start = time.perf_counter()
    for i, n in enumerate(numbers):
        due = start + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        mid, carer, raw = report(run, n)
        acks[mid] = client.send(carer, raw)
    client.close()


def burst(port: int, run: str, numbers: range, clients: int, acks: dict[str, float]) -> None:
    lock = threading.Lock()

    def one(index: int) -> None:
        client = Client(port)
        for n in numbers[index::clients]:
            mid, carer, raw = report(run, n)
            at = client.send(carer, raw)
            with lock:
                acks[mid] = at
        client.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def alerts_by_report(db_path: Path) -> dict[str, list[tuple[str, str]]]:
    """report Message-ID -> [(alert Message-ID, status)], read without blocking serve."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(
            "SELECT m.message_id, a.message_id, a.status FROM alerts a "
            "JOIN inbound_messages m ON m.id = a.inbound_id"
        ).fetchall()
    finally:
        conn.close()
    out: dict[str, list[tuple[str, str]]] = {}
    for report_mid, alert_mid, status in rows:
        out.setdefault(report_mid, []).append((alert_mid, status))
    return out


def pending(db_path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        (messages,) = conn.execute(
            "SELECT count(*) FROM inbound_messages WHERE status = 'pending'"
        ).fetchone()
        (alerts,) = conn.execute("SELECT count(*) FROM alerts WHERE status = 'queued'").fetchone()
    finally:
        conn.close()
    return int(messages), int(alerts)


def drain(db_path: Path, sink: SinkHandler, acks: dict[str, float], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending(db_path) == (0, 0):
            table = alerts_by_report(db_path)
            with sink.lock:
                arrived = set(sink.arrivals)
            if all(mid in table for mid in acks) and all(
                a in arrived for mid in acks for a, _ in table[mid]
            ):
                return
        time.sleep(0.1)
    raise SystemExit(f"not drained within {timeout} s: {pending(db_path)} (messages, alerts)")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered) + 0.4999))  # nearest rank
    return ordered[min(rank, len(ordered)) - 1]


def summarise(
    name: str, acks: dict[str, float], table: dict[str, list[tuple[str, str]]], sink: SinkHandler
) -> dict[str, float]:
    latencies: list[float] = []
    alerts = 0
    for mid, acked in acks.items():
        rows = table[mid]
        alerts += len(rows)
        last = max(sink.arrivals[a] for a, _ in rows)
        latencies.append((last - acked) * 1000)
    figures = {
        "reports": len(latencies),
        "alerts": alerts,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": max(latencies),
    }
    met = figures["p50"] < 100 and figures["p99"] < 500
    print(
        f"{name:<7} reports={figures['reports']:<4} alerts={figures['alerts']:<5} "
        f"p50={figures['p50']:7.1f} ms  p95={figures['p95']:7.1f} ms  "
        f"p99={figures['p99']:7.1f} ms  max={figures['max']:7.1f} ms  "
        f"targets (p50<100, p99<500): {'met' if met else 'NOT met'}"
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steady", type=int, default=400, help="reports at a steady rate")
    parser.add_argument("--rate", type=float, default=20.0, help="steady reports per second")
    parser.add_argument("--burst", type=int, default=200, help="reports sent as fast as possible")
    parser.add_argument("--clients", type=int, default=4, help="SMTP clients in the burst")
    parser.add_argument("--workers", type=int, default=1, help="processing.worker_processes (1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    handler = SinkHandler()
    sink = Controller(handler, hostname="127.0.0.1", port=free_port())
    sink.start()
    tmp = Path(tempfile.mkdtemp(prefix="mb-latency-"))
    db_path = tmp / "data" / "mailbridge.db"
    config = tmp / "mailbridge.toml"
    # A load test sends far more than any carer: the per-sender/per-IP rate limit is off.
    config.write_text(
        "[smtp]\nrate_limit_per_sender = 0\nrate_limit_per_ip = 0\n"
        f"[processing]\nworker_processes = {args.workers}\n",
        encoding="utf-8",
    )
    port = free_port()
    env = serve_env(f"sqlite:///{db_path}", tmp / "data", port, sink.port)
    command = [sys.executable, "-m", "mailbridge", "--config", str(config)]
    imported = subprocess.run(
        [*command, "directory", "import", str(DIRECTORY_CSV)],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        check=False,
    )
    if imported.returncode != 0:
        raise SystemExit(f"directory import failed:\n{imported.stderr}")
    log = open(tmp / "serve.err", "wb")  # noqa: SIM115 - closed after serve exits
    proc = subprocess.Popen([*command, "serve"], env=env, cwd=tmp, stderr=log, stdout=log)
    try:
        wait_listening(proc, port, tmp / "serve.err", 30)
        run = str(int(time.time()))
        print(
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: mailbridge serve on SQLite ({tmp}), "
            f"worker_processes={args.workers}; relay: aiosmtpd sink in this process; "
            f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )

        warm: dict[str, float] = {}
        steady(port, run, range(1_000_000, 1_000_004), 10, warm)  # not counted
        drain(db_path, handler, warm, 60)

        steady_acks: dict[str, float] = {}
        started = time.perf_counter()
        steady(port, run, range(args.steady), args.rate, steady_acks)
        sent_for = time.perf_counter() - started
        drain(db_path, handler, steady_acks, 300)
        print(f"steady: {args.steady} reports in {sent_for:.1f} s ({args.steady / sent_for:.1f}/s)")

        burst_acks: dict[str, float] = {}
        started = time.perf_counter()
        burst(port, run, range(args.steady, args.steady + args.burst), args.clients, burst_acks)
        sent_for = time.perf_counter() - started
        drain(db_path, handler, burst_acks, 300)
        print(
            f"burst:  {args.burst} reports over {args.clients} clients in {sent_for:.1f} s "
            f"({args.burst / sent_for:.1f}/s offered)"
        )

        table = alerts_by_report(db_path)
        not_sent = [s for rows in table.values() for _, s in rows if s != "sent"]
        summarise("steady", steady_acks, table, handler)
        summarise("burst", burst_acks, table, handler)
        first = min(burst_acks.values())
        last = max(handler.arrivals[a] for mid in burst_acks for a, _ in table[mid])
        print(
            f"burst end to end: {len(burst_acks)} reports from the first 250 to the last alert "
            f"at the sink in {last - first:.2f} s = {len(burst_acks) / (last - first):.1f} "
            "reports/s (target >= 100)"
        )
        # Nothing lost or doubled: every report stored once, every alert row sent and at the
        # sink exactly once, nothing at the sink that is not an alert row.
        sent = len(warm) + len(steady_acks) + len(burst_acks)
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
        try:
            rows, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT message_id) FROM inbound_messages"
            ).fetchone()
        finally:
            conn.close()
        alert_ids = {a for rs in table.values() for a, _ in rs}
        doubled = [m for m, c in handler.times.items() if c > 1]
        stray = set(handler.times) - alert_ids
        missing = alert_ids - set(handler.times)
        ok = rows == distinct == sent and not not_sent and not doubled and not stray and not missing
        print(
            f"alert rows not sent: {len(not_sent)}; stored {rows} rows ({distinct} distinct) "
            f"for {sent} reports sent; {len(alert_ids)} alert rows, {len(missing)} missing at "
            f"the sink, {len(doubled)} doubled, {len(stray)} unknown: "
            f"{'nothing lost or doubled' if ok else 'LOST OR DOUBLED'}"
        )
        print(f"after: load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        if not ok:
            return 1
    finally:
        stop_serve(proc)
        log.close()
        sink.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
