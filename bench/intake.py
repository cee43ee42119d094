"""Intake throughput: mailbridge serve (SQLite, durable 250) against a bare aiosmtpd sink.

Both servers run as their own processes and get the same load in the same run: N messages of
about 2 KB, over ``--concurrency`` smtplib connections on threads, each connection sending
many messages (and reconnecting every ``--per-connection`` messages, as real MTAs do and as
mailbridge's per-connection command limit requires). Prints both rates and the ratio; the
target is a ratio of at least 0.5.

    .venv/bin/python bench/intake.py [--n 5000] [--concurrency 10]

Figures on a shared, noisy machine only mean something as a ratio within one run.
"""

from __future__ import annotations

import argparse
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ADDRESS = "missing@council.example"
SENDER = "carer@homes.example"
# How mailbridge is started; an experiment may swap in a variant (e.g. without the worker).
SERVE_COMMAND = [sys.executable, "-m", "mailbridge"]
FILLER = (
    "She said she was going to the shop at about eight and has not come back. Her phone is "
    "off. She was wearing a grey hoodie and white trainers. We have tried her friends. "
)


def make_message(run: str, n: int, size: int) -> bytes:
    head = (
        "From: Foster Carer <carer@homes.example>\r\n"
        f"To: {ADDRESS}\r\n"
        f"Subject: Missing child report {n}\r\n"
        f"Message-ID: <bench-{run}-{n}@carer.example>\r\n"
        "Date: Thu, 26 Nov 2026 21:30:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
    )
    body_len = max(size - len(head), 0)
    lines: list[str] = []
    used = 0
    while used < body_len:
        line = FILLER[: min(76, body_len - used)].rstrip() or "."
        lines.append(line)
        used += len(line) + 2
    return (head + "\r\n".join(lines) + "\r\n").encode()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on port {port} after {timeout} s")


@dataclass
class Load:
    """N messages over ``concurrency`` client threads; counts exactly what got 250.

    A 4xx answer is what a real MTA would queue and retry: the client counts it, waits a
    moment and sends the same message again (up to ``RETRIES`` times), so the figure is the
    time to have every message durably accepted. A 5xx answer is a failure.
    """

    port: int
    messages: list[bytes]
    concurrency: int
    per_connection: int
    acked: int = 0
    temporary: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    RETRIES = 5

    def _client(self, index: int, start: threading.Barrier) -> None:
        mine = self.messages[index :: self.concurrency]
        start.wait()
        done = 0
        tries = 0
        while done < len(mine):
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=120) as client:
                    end = min(done + self.per_connection, len(mine))
                    while done < end:
                        try:
                            client.sendmail(SENDER, [ADDRESS], mine[done])
                        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                            if not 400 <= exc.smtp_code < 500 or tries >= self.RETRIES:
                                raise
                            tries += 1
                            with self.lock:
                                self.temporary += 1
                            time.sleep(0.5)
                            client.rset()
                            continue
                        done += 1
                        tries = 0
                        with self.lock:
                            self.acked += 1
            except (smtplib.SMTPException, OSError) as exc:
                with self.lock:
                    self.failures.append(f"client {index}: {type(exc).__name__}: {exc}")
                return

    def run(self) -> float:
        """Send everything; return the wall time from the first connection to the last 250."""
        start = threading.Barrier(self.concurrency + 1)
        threads = [
            threading.Thread(target=self._client, args=(i, start), daemon=True)
            for i in range(self.concurrency)
        ]
        for t in threads:
            t.start()
        start.wait()
        began = time.perf_counter()
        for t in threads:
            t.join()
        return time.perf_counter() - began


# -- the bare sink ---------------------------------------------------------------------------


class SinkHandler:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def serve_sink(port: int) -> None:
    """Child-process mode: a bare aiosmtpd Controller until SIGTERM."""
    from aiosmtpd.controller import Controller

    controller = Controller(SinkHandler(), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def bench_sink(messages: list[bytes], args: argparse.Namespace) -> tuple[float, Load]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve-sink", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
        load = Load(port, messages, args.concurrency, args.per_connection)
        return load.run(), load
    finally:
        stop_process(proc)


def bench_mailbridge(
    messages: list[bytes], args: argparse.Namespace, workdir: Path
) -> tuple[float, Load, int, int]:
    port = free_port()
    config = workdir / "mailbridge.toml"
    # A load test sends far more than any carer: the per-sender/per-IP rate limit is off.
    config.write_text(
        "[smtp]\nrate_limit_per_sender = 0\nrate_limit_per_ip = 0\n"
        f"[processing]\nworker_processes = {args.workers}\n",
        encoding="utf-8",
    )
    db_path = workdir / "data" / "mailbridge.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    env.update(
        MAILBRIDGE_DATA_DIR=str(workdir / "data"),
        MAILBRIDGE_DATABASE_URL=f"sqlite:///{db_path}",
        MAILBRIDGE_SMTP_PORT=str(port),
        MAILBRIDGE_ADDRESSES=ADDRESS,
    )
    with open(workdir / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [*SERVE_COMMAND, "--config", str(config), "serve"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=log,
        )
    try:
        wait_listening(port, proc)
        load = Load(port, messages, args.concurrency, args.per_connection)
        elapsed = load.run()
    finally:
        code = stop_process(proc)
    if code != 0:
        print(f"warning: mailbridge serve exited {code}; see {workdir / 'serve.log'}")
    stored, distinct = count_stored(f"sqlite:///{db_path}")
    return elapsed, load, stored, distinct


def count_stored(url: str) -> tuple[int, int]:
    """Rows that are originals (not duplicates), and distinct Message-IDs among them."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT count(*) FROM inbound_messages WHERE duplicate_of IS NULL")
            ).scalar_one()
            distinct = conn.execute(
                text("SELECT count(DISTINCT message_id) FROM inbound_messages")
            ).scalar_one()
    finally:
        engine.dispose()
    return int(stored), int(distinct)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=5000, help="messages per server (5000)")
    parser.add_argument("--concurrency", type=int, default=10, help="client connections (10)")
    parser.add_argument("--size", type=int, default=2048, help="bytes per message (2048)")
    parser.add_argument(
        "--per-connection", type=int, default=100, help="messages per SMTP connection (100)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="serve's processing.worker_processes (1)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument("--serve-sink", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_sink is not None:
        serve_sink(args.serve_sink)
        return 0

    run = str(int(time.time()))
    messages = [make_message(run, n, args.size) for n in range(args.n)]
    mean = sum(len(m) for m in messages) / len(messages)
    print(
        f"{args.n} messages of ~{mean:.0f} bytes, {args.concurrency} connections, "
        f"{args.per_connection} messages per connection; serve with worker_processes = "
        f"{args.workers}; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )

    sink_s, sink_load = bench_sink(messages, args)
    sink_rate = sink_load.acked / sink_s
    print(
        f"bare aiosmtpd sink:        {sink_rate:8.1f} msg/s  ({sink_load.acked} in {sink_s:.2f} s)"
    )

    tmp = tempfile.mkdtemp(prefix="mailbridge-bench-")
    workdir = Path(tmp)
    mb_s, mb_load, stored, distinct = bench_mailbridge(messages, args, workdir)
    mb_rate = mb_load.acked / mb_s
    print(f"mailbridge serve (SQLite): {mb_rate:8.1f} msg/s  ({mb_load.acked} in {mb_s:.2f} s)")
    ratio = mb_rate / sink_rate
    print(f"ratio mailbridge/sink:     {ratio:8.2f}  (target >= 0.50)")
    print(
        f"temporary failures (4xx, retried): sink {sink_load.temporary}, "
        f"mailbridge {mb_load.temporary}"
    )
    print(f"stored by mailbridge: {stored} rows, {distinct} distinct Message-IDs (sent {args.n})")

    problems = sink_load.failures + mb_load.failures
    for problem in problems[:10]:
        print("failure:", problem)
    if args.keep:
        print(f"data kept in {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    ok = not problems and stored == args.n and distinct == args.n and mb_load.acked == args.n
    if not ok:
        print("FAILED: not every message was acknowledged and stored")
        return 1
    return 0 if ratio >= 0.5 else 2


if __name__ == "__main__":
    raise SystemExit(main())
