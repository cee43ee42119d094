"""IMAP watcher: drain rate against a bare imapclient loop, and APPEND-to-stored latency.

Starts its own Dovecot (tests/support/dovecot.py: unprivileged, a free port, a temporary
maildir) and measures, in one run:

1. **Drain.** N messages of about 2 KB are appended to a mailbox, then drained:
   - *ceiling*: a bare imapclient loop that only fetches them (SEARCH ALL, then
     ``UID FETCH BODY.PEEK[]`` in batches of ``--batch``), nothing stored or moved;
   - *watcher*: mailbridge's Watcher with Intake on SQLite in this process (fetch, commit,
     last_uid, MOVE), no processing;
   - *serve*: ``mailbridge serve`` as a subprocess on SQLite, the worker processing as the
     watcher stores. Timed from the "watching IMAP folder" log line to an empty folder.
   Each rate is reported as a ratio of the ceiling; the target is >= 0.5.
2. **Latency.** With ``mailbridge serve`` idling on a mailbox, ``--latency-n`` messages are
   appended one at a time; for each, the time from APPEND to its row in the database. A bare
   IDLE client on the same folder records when the server announced it (EXISTS): Dovecot
   batches change notifications, and that part no client can beat. Target: p99 < 1 s.

    .venv/bin/python bench/imap.py [--n 5000] [--latency-n 200] [--batch 50] [--keep]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imapclient import IMAPClient  # noqa: E402

from tests.support.dovecot import Dovecot, dovecot_binary, free_port  # noqa: E402

FILLER = (
    "She said she was going to the shop at about eight and has not come back. Her phone is "
    "off. She was wearing a grey hoodie and white trainers. We have tried her friends. "
)


def make_message(run: str, n: int, size: int = 2048) -> bytes:
    head = (
        f"From: Foster Carer {n} <carer{n}@homes.example>\r\n"
        "To: missing@council.example\r\n"
        f"Subject: Missing child report {n}\r\n"
        f"Message-ID: <imapbench-{run}-{n}@carer.example>\r\n"
        "Date: Thu, 26 Nov 2026 21:30:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
    )
    body: list[str] = []
    used = len(head)
    while used < size:
        line = FILLER[: min(76, size - used)].rstrip() or "."
        body.append(line)
        used += len(line) + 2
    return (head + "\r\n".join(body) + "\r\n").encode()


def fill(dovecot: Dovecot, user: str, messages: list[bytes]) -> float:
    client = dovecot.client(user)
    started = time.monotonic()
    for start in range(0, len(messages), 250):
        client.multiappend("INBOX", messages[start : start + 250])
    elapsed = time.monotonic() - started
    client.logout()
    return elapsed


def inbox_count(client: Any) -> int:
    return int(client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])


def ceiling(dovecot: Dovecot, user: str, batch: int) -> tuple[float, int]:
    """The bare loop: connect, SEARCH, FETCH BODY.PEEK[] in batches; nothing else."""
    started = time.monotonic()
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=60)
    client.login(user, "secret-Pa55")
    client.select_folder("INBOX")
    uids = sorted(client.search(["ALL"]))
    size = 0
    for start in range(0, len(uids), batch):
        data = client.fetch(uids[start : start + batch], [b"BODY.PEEK[]"])
        size += sum(len(v[b"BODY[]"]) for v in data.values())
    client.logout()
    return time.monotonic() - started, size


def watcher_drain(dovecot: Dovecot, user: str, n: int, batch: int, work: Path) -> float:
    from mailbridge.ingress.imap.watcher import Watcher
    from mailbridge.intake import Intake
    from mailbridge.runtime.serve import open_store
    from mailbridge.settings.config import load_settings

    settings = load_settings(
        None,
        {
            "MAILBRIDGE_DATA_DIR": str(work / "watcher"),
            "MAILBRIDGE_IMAP_URL": dovecot.url(user),
        },
    )
    settings = dataclasses.replace(
        settings, imap=dataclasses.replace(settings.imap, batch_size=batch)
    )
    engine = open_store(settings)
    watcher = Watcher(engine, settings.imap, Intake(engine))
    started = time.monotonic()
    watcher.start()
    probe = dovecot.client(user)
    try:
        while inbox_count(probe) > 0 or watcher.stored < n:
            time.sleep(0.02)
        elapsed = time.monotonic() - started
    finally:
        probe.logout()
        watcher.stop()
        engine.dispose()
    return elapsed


class Serve:
    def __init__(self, dovecot: Dovecot, user: str, work: Path, batch: int) -> None:
        self.dir = work
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "mailbridge.toml"
        config.write_text(f"[imap]\nbatch_size = {batch}\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
        env.update(
            MAILBRIDGE_DATA_DIR=str(self.dir / "data"),
            MAILBRIDGE_SMTP_PORT=str(free_port()),
            MAILBRIDGE_ADDRESSES="missing@council.example",
            MAILBRIDGE_IMAP_URL=dovecot.url(user),
            PYTHONUNBUFFERED="1",
        )
        self.log = self.dir / "serve.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mailbridge", "--config", str(config), "serve"],
                env=env,
                cwd=self.dir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.db = self.dir / "data" / "mailbridge.db"

    def wait_watching(self, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"serve exited early:\n{self.log.read_text()[-3000:]}")
            if self.log.is_file() and "watching IMAP folder" in self.log.read_text(
                errors="replace"
            ):
                return time.monotonic()
            time.sleep(0.01)
        raise SystemExit("serve did not start watching")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def serve_drain(dovecot: Dovecot, user: str, n: int, batch: int, work: Path) -> float:
    serve = Serve(dovecot, user, work, batch)
    probe = dovecot.client(user)
    try:
        started = serve.wait_watching()
        while inbox_count(probe) > 0:
            time.sleep(0.02)
        elapsed = time.monotonic() - started
    finally:
        probe.logout()
        serve.stop()
    stored = (
        sqlite3.connect(serve.db)
        .execute("SELECT count(*) FROM inbound_messages WHERE source = 'imap'")
        .fetchone()[0]
    )
    if stored != n:
        raise SystemExit(f"serve stored {stored} of {n}")
    return elapsed


def latency(dovecot: Dovecot, user: str, count: int, work: Path) -> tuple[list[float], list[float]]:
    """APPEND -> stored (mailbridge) and APPEND -> EXISTS (a bare IDLE client), in seconds."""
    serve = Serve(dovecot, user, work, 200)
    announced = threading.Event()
    stop = threading.Event()

    def bare_idle() -> None:
        client = dovecot.client(user)
        client.select_folder("INBOX", readonly=True)
        client.idle()
        while not stop.is_set():
            for response in client.idle_check(timeout=0.2):
                if len(response) >= 2 and response[1] == b"EXISTS":
                    announced.set()
        client.idle_done()
        client.logout()

    idler = threading.Thread(target=bare_idle, daemon=True)
    stored_lat: list[float] = []
    exists_lat: list[float] = []
    appender = dovecot.client(user)
    try:
        serve.wait_watching()
        idler.start()
        time.sleep(1.0)
        db = sqlite3.connect(serve.db, timeout=30)
        run = f"lat{int(time.time())}"
        for n in range(count):
            message = make_message(run, n, 1024)
            mid = f"imapbench-{run}-{n}@carer.example"
            announced.clear()
            started = time.monotonic()
            appender.append("INBOX", message)
            exists_at = None
            while True:
                if exists_at is None and announced.is_set():
                    exists_at = time.monotonic()
                row = db.execute(
                    "SELECT 1 FROM inbound_messages WHERE message_id = ?", (mid,)
                ).fetchone()
                if row:
                    stored_lat.append(time.monotonic() - started)
                    break
                if time.monotonic() - started > 30:
                    raise SystemExit(f"message {n} not stored after 30 s")
                time.sleep(0.002)
            if exists_at is None and announced.wait(5):
                exists_at = time.monotonic()
            if exists_at is not None:
                exists_lat.append(exists_at - started)
            time.sleep(0.1)
        db.close()
    finally:
        stop.set()
        appender.logout()
        idler.join(5)
        serve.stop()
    return stored_lat, exists_lat


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="backlog size (default 5000)")
    parser.add_argument("--latency-n", type=int, default=200, help="messages for latency")
    parser.add_argument("--batch", type=int, default=200, help="UIDs per FETCH (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="ceiling/watcher pairs (3)")
    parser.add_argument("--skip-serve-drain", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and Dovecot's")
    args = parser.parse_args()

    binary = dovecot_binary()
    if binary is None:
        print("dovecot is not installed (apt-get install dovecot-imapd)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="mb-imapbench-"))
    dovecot = Dovecot(binary).start()
    ok = True
    try:
        run = f"r{int(time.time())}"
        messages = [make_message(run, i) for i in range(args.n)]
        rates: dict[str, float] = {}

        # Ceiling and watcher alternate, each on a fresh mailbox, so that load from other work
        # on the machine hits both alike; the median ratio is the figure.
        ratios: list[float] = []
        for round_ in range(1, args.rounds + 1):
            user = dovecot.new_user()
            took = fill(dovecot, user, messages)
            elapsed, size = ceiling(dovecot, user, args.batch)
            rates["ceiling"] = args.n / elapsed
            print(
                f"round {round_}: appended {args.n} messages of ~2 KB in {took:.1f} s; "
                f"ceiling (bare fetch loop) {elapsed:.2f} s, {rates['ceiling']:.0f} msg/s, "
                f"{size / elapsed / 1e6:.1f} MB/s"
            )
            user = dovecot.new_user()
            fill(dovecot, user, messages)
            elapsed = watcher_drain(dovecot, user, args.n, args.batch, work / f"w{round_}")
            rates["watcher"] = args.n / elapsed
            ratios.append(rates["watcher"] / rates["ceiling"])
            print(
                f"round {round_}: watcher + intake (SQLite) {elapsed:.2f} s, "
                f"{rates['watcher']:.0f} msg/s, ratio {ratios[-1]:.2f}"
            )
        ratio = statistics.median(ratios)
        print(f"watcher / ceiling: median ratio {ratio:.2f} over {len(ratios)} round(s)")

        if not args.skip_serve_drain:
            user = dovecot.new_user()
            fill(dovecot, user, messages)
            elapsed = serve_drain(dovecot, user, args.n, args.batch, work / "serve-drain")
            rates["serve"] = args.n / elapsed
            print(
                f"mailbridge serve (SQLite, worker on): {elapsed:.2f} s, "
                f"{rates['serve']:.0f} msg/s, ratio {rates['serve'] / rates['ceiling']:.2f}"
            )
        ok = ratio >= 0.5

        if args.latency_n:
            user = dovecot.new_user()
            stored, exists = latency(dovecot, user, args.latency_n, work / "latency")
            p50, p99 = pct(stored, 50), pct(stored, 99)
            print(
                f"APPEND -> stored over {len(stored)}: p50 {p50 * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms, max {max(stored) * 1000:.0f} ms, "
                f"mean {statistics.mean(stored) * 1000:.0f} ms"
            )
            if exists:
                print(
                    f"APPEND -> EXISTS at a bare IDLE client over {len(exists)}: "
                    f"p50 {pct(exists, 50) * 1000:.0f} ms, p99 {pct(exists, 99) * 1000:.0f} ms"
                )
            ok = ok and p99 < 1.0
    finally:
        if args.keep:
            print(f"kept {work} and {dovecot.root}")
            dovecot.stop()
        else:
            dovecot.cleanup()
            shutil.rmtree(work, ignore_errors=True)
    print("targets met" if ok else "target missed")
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
