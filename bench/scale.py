"""Scale: end-to-end throughput and alert latency for one and two `serve` instances.

Three set-ups in one run, each on a fresh store with the same generated directory (200
children) and the packaged routing rules, each instance a real `mailbridge serve` process
(tests/support/cluster.py) relaying to one aiosmtpd sink in this process:

    (a) SQLite, one instance        (b) PostgreSQL, one instance    (c) PostgreSQL, two instances

Two phases per set-up, each drained (nothing pending, every alert at the sink) before the next:

- burst: ``--reports`` carers' reports (a missing report and an update per child) as fast as
  ``--clients`` smtplib clients can send them, spread over the instances. Throughput is
  reports / (last alert at the sink - first report sent): accepted to alerted, end to end.
- paced: ``--paced`` reports at ``--rate`` a second, the load of a busy evening rather than a
  flood, so the latency is mailbridge's and not the queue's.

Alert latency is, for every alert, (sink accepted it) - (its report's SMTP 250), with the
alert's report found in the store (alerts.inbound_id). p50 and p99 per phase. Last, the
ratios of (b) and (c) to (a).

    .venv/bin/python bench/scale.py --pg-url postgresql+psycopg://postgres@127.0.0.1/mb_scratch
        [--reports 400] [--clients 8] [--paced 100] [--rate 10] [--keep]

The PostgreSQL database named by --pg-url (or MAILBRIDGE_BENCH_DATABASE_URL) is a SCRATCH
database: its public schema is dropped before (b) and again before (c). Without one, only (a)
runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailbridge.store import db  # noqa: E402
from tests.support.cluster import (  # noqa: E402
    Delivery,
    Instance,
    Job,
    Report,
    Store,
    directory_csv,
    make_children,
    report,
    send,
    wait_until,
)
from tests.support.env import reset_postgres  # noqa: E402
from tests.support.relay import Sink  # noqa: E402


@dataclass(frozen=True)
class Phase:
    reports: int
    alerts: int
    seconds: float  # first report sent to last alert at the sink
    p50: float  # ms
    p99: float  # ms

    @property
    def rate(self) -> float:
        return self.reports / self.seconds


@dataclass(frozen=True)
class Result:
    name: str
    burst: Phase
    paced: Phase


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered) + 0.4999))  # nearest rank
    return ordered[min(rank, len(ordered)) - 1]


class Setup:
    """One store, one sink, ``count`` instances; started, measured, stopped."""

    def __init__(self, name: str, root: Path, url: str, count: int, workers: int = 1) -> None:
        self.name = name
        self.root = root
        self.url = url
        self.sink = Sink().start()
        secret = root / "reply-secret"
        secret.write_text(uuid.uuid4().hex * 2 + "\n", encoding="utf-8")
        self.instances = [
            Instance(
                root,
                f"i{n}",
                url,
                relay_url=self.sink.url,
                reply_secret_file=secret,
                sections={"processing": {"worker_processes": workers}},
            )
            for n in range(count)
        ]
        self.store = Store(url)

    def start(self, children_csv: Path) -> None:
        done = self.instances[0].run("directory", "import", str(children_csv))
        if done.returncode != 0:
            raise SystemExit(f"{self.name}: directory import failed:\n{done.stderr}")
        for inst in self.instances:
            inst.start()
        for inst in self.instances:
            inst.wait_listening()

    def drained(self) -> bool:
        if self.store.pending() != (0, 0):
            return False
        alerts = int(self.store.scalar("SELECT count(*) FROM alerts"))
        return len(self.sink.by_message_id()) >= alerts

    def run_phase(self, reports: list[Report], clients: int, pause: float) -> Phase:
        ports = [inst.port for inst in self.instances]
        jobs = [
            Job(
                tuple(ports[i % len(ports) :] + ports[: i % len(ports)]), reports[i::clients], pause
            )
            for i in range(clients)
        ]
        seen = len(self.sink.messages())
        started = time.perf_counter()
        delivery: Delivery = send(jobs, timeout=600)
        if len(delivery.accepted) != len(reports):
            raise SystemExit(f"{self.name}: only {len(delivery.accepted)} reports accepted")
        wait_until(self.drained, 600, f"{self.name}: drained")
        arrivals = {r.message_id: r.at for r in self.sink.messages()[seen:]}
        wanted = {r.message_id for r in reports}
        rows = self.store.rows(
            "SELECT a.message_id AS alert, m.message_id AS report FROM alerts a "
            "JOIN inbound_messages m ON m.id = a.inbound_id"
        )
        latencies = [
            (arrivals[row.alert] - delivery.accepted[row.report]) * 1000
            for row in rows
            if row.report in wanted
        ]
        last = max(arrivals.values())
        return Phase(
            len(reports),
            len(latencies),
            last - started,
            percentile(latencies, 50),
            percentile(latencies, 99),
        )

    def check(self, sent: int) -> bool:
        """Nothing lost or doubled: ``sent`` reports stored once each, every alert row sent and
        at the sink exactly once, nothing at the sink that is not an alert row."""
        stored, distinct = self.store.rows(
            "SELECT count(*), count(DISTINCT message_id) FROM inbound_messages"
        )[0]
        alerts = {
            r.message_id: r.status for r in self.store.rows("SELECT message_id, status FROM alerts")
        }
        at_sink = self.sink.by_message_id()
        unsent = [m for m, status in alerts.items() if status != "sent"]
        missing = [m for m in alerts if at_sink.get(m, 0) == 0]
        doubled = [m for m, c in at_sink.items() if c > 1]
        stray = [m for m in at_sink if m not in alerts]
        ok = stored == distinct == sent and not (unsent or missing or doubled or stray)
        print(
            f"{self.name}: stored {stored} rows ({distinct} distinct) for {sent} reports sent; "
            f"{len(alerts)} alert rows, {len(unsent)} not sent, {len(missing)} missing at the "
            f"sink, {len(doubled)} doubled, {len(stray)} unknown: "
            f"{'nothing lost or doubled' if ok else 'LOST OR DOUBLED'}"
        )
        return ok

    def stop(self) -> None:
        for inst in self.instances:
            try:
                inst.stop()
            except RuntimeError as exc:
                print(f"warning: {exc}")
            finally:
                inst.cleanup()
        self.sink.stop()
        self.store.dispose()


def run(
    name: str, url: str, count: int, root: Path, *, args: argparse.Namespace, csv_path: Path
) -> Result:
    root.mkdir(parents=True)
    setup = Setup(name, root, url, count, args.workers)
    try:
        setup.start(csv_path)
        children = make_children(args.children)
        tag = uuid.uuid4().hex[:8]
        numbers = iter(range(1_000_000))

        def batch(total: int) -> list[Report]:
            """A missing report, then an update, per child; children in turn."""
            out: list[Report] = []
            for _ in range(total):
                k = next(numbers)
                child = children[k // 2 % len(children)]
                out.append(report(child, ("missing", "update")[k % 2], tag, k))
            return out

        setup.run_phase(batch(6), 2, 0.05)  # warm-up, not counted
        burst = setup.run_phase(batch(args.reports), args.clients, 0.0)
        paced = setup.run_phase(batch(args.paced), 1, 1 / args.rate)
        if not setup.check(6 + args.reports + args.paced):
            raise SystemExit(f"{name}: something was lost or doubled")
        return Result(name, burst, paced)
    finally:
        setup.stop()


def show(results: list[Result]) -> None:
    base = results[0]
    print()
    print(
        f"{'set-up':<26} {'burst reports/s':>15} {'p50 ms':>8} {'p99 ms':>8}  "
        f"{'paced p50 ms':>12} {'p99 ms':>8}  {'alerts':>6}"
    )
    for r in results:
        print(
            f"{r.name:<26} {r.burst.rate:>15.1f} {r.burst.p50:>8.0f} {r.burst.p99:>8.0f}  "
            f"{r.paced.p50:>12.0f} {r.paced.p99:>8.0f}  {r.burst.alerts + r.paced.alerts:>6}"
        )
    print()
    print(f"ratios against {base.name}:")
    for r in results[1:]:
        b, p, bb, bp = r.burst, r.paced, base.burst, base.paced
        print(
            f"  {r.name:<24} throughput x{b.rate / bb.rate:.2f}; "
            f"burst p50 x{b.p50 / bb.p50:.2f}, p99 x{b.p99 / bb.p99:.2f}; "
            f"paced p50 x{p.p50 / bp.p50:.2f}, p99 x{p.p99 / bp.p99:.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pg-url", default=os.environ.get("MAILBRIDGE_BENCH_DATABASE_URL", ""))
    parser.add_argument("--reports", type=int, default=400, help="reports in the burst")
    parser.add_argument("--clients", type=int, default=8, help="SMTP clients in the burst")
    parser.add_argument("--paced", type=int, default=100, help="reports in the paced phase")
    parser.add_argument("--rate", type=float, default=10.0, help="paced reports per second")
    parser.add_argument("--children", type=int, default=200, help="children in the directory")
    parser.add_argument("--workers", type=int, default=1, help="processing.worker_processes (1)")
    parser.add_argument("--only-one", action="store_true", help="skip (c), two instances")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="mb-scale-"))
    csv_path = tmp / "directory.csv"
    csv_path.write_text(directory_csv(make_children(args.children)), encoding="utf-8")
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: burst {args.reports} reports over "
        f"{args.clients} clients, paced {args.paced} at {args.rate:g}/s; {args.children} "
        f"children; os.getloadavg() = {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    setups: list[tuple[str, str, int]] = [
        ("(a) SQLite, 1 instance", f"sqlite:///{tmp / 'a' / 'mailbridge.db'}", 1)
    ]
    if args.pg_url:
        setups += [("(b) PostgreSQL, 1 instance", args.pg_url, 1)]
        if not args.only_one:
            setups += [("(c) PostgreSQL, 2 instances", args.pg_url, 2)]
    else:
        print("no --pg-url (or MAILBRIDGE_BENCH_DATABASE_URL): only (a) runs")
    results: list[Result] = []
    try:
        for index, (name, url, count) in enumerate(setups):
            if url.startswith("postgresql"):
                reset_postgres(url)
                engine = db.make_engine(url)
                try:
                    db.upgrade(engine)
                finally:
                    engine.dispose()
            started = time.monotonic()
            result = run(name, url, count, tmp / "abc"[index], args=args, csv_path=csv_path)
            results.append(result)
            print(
                f"{name}: burst {result.burst.rate:.1f} reports/s "
                f"({result.burst.reports} in {result.burst.seconds:.1f} s, "
                f"{result.burst.alerts} alerts); paced p50 {result.paced.p50:.0f} ms, "
                f"p99 {result.paced.p99:.0f} ms; {time.monotonic() - started:.0f} s in all; "
                f"load {os.getloadavg()[0]:.1f}"
            )
        show(results)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
