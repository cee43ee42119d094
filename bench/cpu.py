"""CPU per item: processing one report and sending one alert, with cProfile's top costs.

In one process on a fresh SQLite store (the fixture directory imported): stores ``--n``
carers' reports, then times the worker over them (``Worker.process_one``: read, match, episode,
route, render the outbox rows, commit) and the sender over their alerts (claim, build the MIME
message, flatten it as the relay client would, record). CPU time is ``time.process_time``, so
another process's load counts less than on the wall clock (it still slows caches). Targets
(issue 18): 15 ms of CPU per report, 2 ms per alert.

    .venv/bin/python bench/cpu.py [--n 200] [--warm 5] [--top 25] [--no-profile] [--dump DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.message import Message
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import ADDRESS, DIRECTORY_CSV, report

from mailbridge.delivery.sender import Sender
from mailbridge.directory import csv_file
from mailbridge.intake import Intake, make_incoming
from mailbridge.runtime.serve import make_workers
from mailbridge.settings.config import load_settings
from mailbridge.store import db, directory, tx


class NullConnection:
    """Flattens the message as smtplib would, sends it nowhere."""

    def send(self, message: Message, recipient: str) -> None:
        BytesGenerator(io.BytesIO()).flatten(message)


class NullTransport:
    def open(self) -> NullConnection:  # a context manager in the real transports
        return self  # type: ignore[return-value]

    def __enter__(self) -> NullConnection:
        return NullConnection()

    def __exit__(self, *exc: object) -> None:
        return None


def profiled(
    enabled: bool, work: object, top: int, title: str, dump: Path | None = None
) -> float:
    # CPU time, not the wall clock: on a shared machine waiting for a core is not a cost
    profile = cProfile.Profile(time.process_time) if enabled else None
    start, times = time.process_time(), os.times()
    if profile is not None:
        profile.enable()
    work()  # type: ignore[operator]
    if profile is not None:
        profile.disable()
    spent = time.process_time() - start
    after = os.times()
    user, system = after.user - times.user, after.system - times.system
    print(f"{title}: {user:.2f} s user + {system:.2f} s system (the kernel: fsync, I/O)")
    if profile is not None:
        if dump is not None:
            profile.dump_stats(str(dump / f"{title}.prof"))
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(top)
        print(f"--- {title}: top {top} by cumulative time (profiled run) ---")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="reports (200)")
    parser.add_argument("--top", type=int, default=25, help="profile lines shown (25)")
    parser.add_argument("--no-profile", action="store_true", help="time only")
    parser.add_argument("--warm", type=int, default=5,
                        help="reports processed and sent first, not timed (5): a serving process "
                             "compiles its templates and prepares its statements once")
    parser.add_argument("--dump", type=Path, default=None,
                        help="also write processing.prof and sending.prof (pstats) into DIR")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="mb-profile-"))
    environ = {
        "MAILBRIDGE_DATABASE_URL": f"sqlite:///{tmp / 'mailbridge.db'}",
        "MAILBRIDGE_DATA_DIR": str(tmp),
        "MAILBRIDGE_ADDRESSES": ADDRESS,
        "MAILBRIDGE_RELAY_URL": "smtp://127.0.0.1:9",
    }
    (tmp / "mailbridge.toml").write_text("", encoding="utf-8")
    settings = load_settings(str(tmp / "mailbridge.toml"), environ)
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    with tx.write(engine) as t:
        parsed = csv_file.parse_csv(DIRECTORY_CSV.read_text(encoding="utf-8"))
        directory.import_directory(t, parsed, now=datetime.now(UTC), actor="bench")
    intake = Intake(engine)
    ids = [
        intake.accept(
            make_incoming(raw, source="smtp", mail_from=carer, rcpt_tos=[ADDRESS], peer=None)
        ).id
        for _, carer, raw in (report("p", n) for n in range(args.warm + args.n))
    ]
    worker, _ = make_workers(engine, settings)
    sender = Sender(engine, settings, transport=NullTransport())  # type: ignore[arg-type]
    for message_id in ids[: args.warm]:
        worker.process_one(message_id)
    sender.deliver_due(max_passes=100_000)
    ids = ids[args.warm :]
    one, five, _ = os.getloadavg()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
        f"{one:.1f}/{five:.1f}; Python {sys.version.split()[0]}; SQLite"
    )

    def process() -> None:
        for message_id in ids:
            worker.process_one(message_id)

    cpu = profiled(not args.no_profile, process, args.top, "processing", args.dump)
    print(f"processing: {args.n} reports, {cpu / args.n * 1000:.1f} ms CPU per report "
          f"(target 15){' [profiled: cProfile adds its own cost]' if not args.no_profile else ''}")

    sent = [0]

    def send() -> None:
        sent[0] = sender.deliver_due(max_passes=100_000).sent

    cpu = profiled(not args.no_profile, send, args.top, "sending", args.dump)
    print(f"sending: {sent[0]} alerts, {cpu / max(sent[0], 1) * 1000:.2f} ms CPU per alert "
          f"(target 2){' [profiled]' if not args.no_profile else ''}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
