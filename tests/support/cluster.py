"""Several real `mailbridge serve` processes on one database, for
tests/acceptance/test_multi_instance.py and bench/scale.py.

Each `Instance` is the installed console script with a TOML file of its own (same database,
same reply secret file, its own SMTP port and data dir), as an operator would run one per
machine. `make_children` and `directory_csv` give a realistic directory to import; `report`
writes a carer's email about one child; `send` delivers reports over a few reused smtplib
connections and, like an MTA, tries again on a 4xx answer or on another listener when one
goes away.
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

ADDRESS = "missing@council.example"

_FIRST = [
    "Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Ivy", "Arthur", "Freya", "Leo",
    "Lily", "Oscar", "Rosie", "Harry", "Evie", "Jack", "Poppy", "Charlie", "Grace", "Theo",
    "Sophia", "Finley", "Millie", "Archie", "Daisy", "Alfie", "Ruby", "Jacob", "Phoebe", "Reggie",
]  # fmt: skip
_LAST = [
    "Turner", "Okafor", "Walsh", "Begum", "Nowak", "Hughes", "Patel", "Murray", "Kaur", "Evans",
    "Doyle", "Fraser", "Ahmed", "Lewis", "Quinn", "Baker", "Mensah", "Price", "Hussain", "Reid",
]  # fmt: skip
_PLACES = ["Mill Lane", "the bus station", "the retail park", "the canal path", "the high street"]
_CLOTHES = ["a grey hoodie", "a red coat", "a black puffer jacket", "school uniform"]


@dataclass(frozen=True)
class Child:
    child_id: str
    first_name: str
    last_name: str
    date_of_birth: date
    placement: str
    carer: str
    social_worker: tuple[str, str]
    iro: tuple[str, str]
    team_manager: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def make_children(count: int, *, seed: int = 9) -> list[Child]:
    """``count`` children with unique names, spread over placements and staff, as a council's
    directory is: several children per placement and per social worker."""
    rng = random.Random(seed)
    names = [(f, last) for last in _LAST for f in _FIRST]
    rng.shuffle(names)
    if count > len(names):
        raise ValueError(f"at most {len(names)} children")
    children = []
    for i in range(count):
        first, last = names[i]
        home = i % 25
        sw = i % 12
        iro = i % 5
        children.append(
            Child(
                child_id=str(300001 + i),
                first_name=first,
                last_name=last,
                date_of_birth=date(2008, 1, 1) + timedelta(days=rng.randrange(365 * 9)),
                placement=f"Placement {home + 1}",
                carer=f"carers{home + 1}@homes.example",
                social_worker=(f"Social Worker {sw + 1}", f"sw{sw + 1}@council.example"),
                iro=(f"IRO {iro + 1}", f"iro{iro + 1}@council.example"),
                team_manager=f"tm{i % 3 + 1}@council.example",
            )
        )
    return children


def directory_csv(children: Sequence[Child]) -> str:
    """The directory import file (DESIGN.md columns) for ``children``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "child_id", "first_name", "last_name", "date_of_birth", "placement_name",
            "carer_emails", "social_worker_name", "social_worker_email", "iro_name",
            "iro_email", "team_manager_email",
        ]
    )  # fmt: skip
    for c in children:
        writer.writerow(
            [
                c.child_id, c.first_name, c.last_name, c.date_of_birth.isoformat(), c.placement,
                c.carer, c.social_worker[0], c.social_worker[1], c.iro[0], c.iro[1],
                c.team_manager,
            ]
        )  # fmt: skip
    return out.getvalue()


@dataclass(frozen=True)
class Report:
    message_id: str
    sender: str
    raw: bytes
    child_id: str
    kind: str  # missing / update / returned


def report(child: Child, kind: str, tag: str, n: int) -> Report:
    """A carer's email about ``child``: 'missing' and 'update' read as missing or information
    about an open episode, 'returned' as the child's return (checked in the test)."""
    place = _PLACES[n % len(_PLACES)]
    # clock times before the email (sent now), whatever the time of day the test runs
    london = datetime.now(UTC).astimezone(ZoneInfo("Europe/London"))
    seen, back = london - timedelta(hours=3), london - timedelta(hours=1)
    if kind == "missing":
        body = (
            f"{child.name} ({child.child_id}) has not come home. Last seen at {seen:%H:%M} near "
            f"{place}, wearing {_CLOTHES[n % len(_CLOTHES)]}."
        )
    elif kind == "update":
        body = (
            f"Update about {child.name} ({child.child_id}): we have rung round friends and "
            f"there is no news yet. Police informed, reference NC-20261126-{n % 10000:04d}."
        )
    elif kind == "returned":
        body = f"{child.name} ({child.child_id}) returned home at {back:%H:%M}. Safe and well."
    else:
        raise ValueError(kind)
    mid = f"{kind}-{tag}-{n}@{child.carer.split('@')[1]}"
    raw = (
        f"From: Carer <{child.carer}>\r\nTo: {ADDRESS}\r\nSubject: {child.first_name}\r\n"
        f"Message-ID: <{mid}>\r\nDate: {formatdate(localtime=False)}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n\r\nCarer, {child.placement}\r\n"
    ).encode()
    return Report(mid, child.carer, raw, child.child_id, kind)


# -- the instances --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def console_script() -> str:
    """The `mailbridge` entry point installed next to this interpreter (the .venv's)."""
    beside = Path(sys.executable).with_name("mailbridge")
    if beside.is_file():
        return str(beside)
    found = shutil.which("mailbridge")
    if found is None:
        raise RuntimeError("the mailbridge console script is not installed (pip install -e .)")
    return found


def render_toml(sections: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            if isinstance(value, bool):
                rendered = str(value).lower()
            elif isinstance(value, int | float):
                rendered = repr(value)
            elif isinstance(value, list):
                rendered = "[" + ", ".join(f'"{v}"' for v in value) + "]"
            else:
                rendered = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            lines.append(f"{key} = {rendered}")
        lines.append("")
    return "\n".join(lines)


class Instance:
    """One `mailbridge serve` process with a config file of its own; logs go to files."""

    def __init__(
        self,
        root: Path,
        name: str,
        database_url: str,
        *,
        relay_url: str,
        reply_secret_file: Path,
        sections: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.name = name
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        merged: dict[str, dict[str, Any]] = {
            "service": {
                "data_dir": str(self.dir / "data"),
                "database_url": database_url,
                "reply_secret_file": str(reply_secret_file),
            },
            # Hundreds of reports from a few carers in a minute: the rate limits (tested in
            # test_smtp_security.py) would defer them; these tests are about the instances.
            "smtp": {
                "port": self.port,
                "addresses": [ADDRESS],
                "rate_limit_per_sender": 0,
                "rate_limit_per_ip": 0,
            },
            "relay": {"url": relay_url},
        }
        for section, values in (sections or {}).items():
            merged.setdefault(section, {}).update(values)
        self.config = self.dir / "mailbridge.toml"
        self.config.write_text(render_toml(merged), encoding="utf-8")
        self.log_path = self.dir / "serve.log"
        # The file alone decides: no MAILBRIDGE_* variable of the caller's leaks in.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
        self.env["PYTHONUNBUFFERED"] = "1"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> list[str]:
        return [console_script(), "--config", str(self.config), *args]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Another command with this instance's settings (`directory import`, `messages`)."""
        return subprocess.run(
            self.command(*args),
            env=self.env,
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> Instance:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command("serve"),
                env=self.env,
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # serve and its worker processes: one group to kill
            )
        return self

    def wait_listening(self, timeout: float = 30) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen within {timeout} s:\n{self.log()}")

    def wait_log(self, needle: str, timeout: float) -> float:
        """Seconds until ``needle`` appears in the log."""
        started = time.monotonic()
        while needle not in self.log():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{self.name}: no {needle!r} in the log within {timeout} s")
            time.sleep(0.05)
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL to serve and its worker processes: no shutdown code runs, as in a power cut
        or an OOM kill of the unit."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{self.name} did not stop within {timeout} s") from None

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        if not self.log_path.is_file():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


# -- sending --------------------------------------------------------------------------------


@dataclass
class Delivery:
    """What the clients saw: when each report was first answered 250, and every setback."""

    accepted: dict[str, float] = field(default_factory=dict)  # Message-ID -> perf_counter
    answers: dict[str, list[int]] = field(default_factory=dict)  # Message-ID -> listener ports
    temporary: list[str] = field(default_factory=list)  # 4xx answers, as "port: code text"
    lost: int = 0  # connections that broke mid-way (a killed listener)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, report: Report, port: int) -> None:
        at = time.perf_counter()
        with self.lock:
            self.accepted.setdefault(report.message_id, at)
            self.answers.setdefault(report.message_id, []).append(port)


@dataclass(frozen=True)
class Job:
    """One client: these reports, in order, to the first port; the others if it goes away."""

    ports: tuple[int, ...]
    reports: Sequence[Report]
    pause: float = 0.0  # seconds between messages: a paced sender rather than a burst


def _client(
    job: Job, delivery: Delivery, per_connection: int, deadline: float, stop: threading.Event
) -> None:
    ports = list(job.ports)
    smtp: smtplib.SMTP | None = None
    used = 0

    def close() -> None:
        nonlocal smtp
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
            smtp = None

    for item in job.reports:
        while True:
            if time.monotonic() > deadline or stop.is_set():
                close()
                return
            try:
                if smtp is None or used >= per_connection:
                    close()
                    smtp = smtplib.SMTP("127.0.0.1", ports[0], timeout=30)
                    used = 0
                smtp.sendmail(item.sender, [ADDRESS], item.raw)
                used += 1
                delivery.record(item, ports[0])
                if job.pause:
                    time.sleep(job.pause)
                break
            except smtplib.SMTPResponseException as exc:
                if not 400 <= exc.smtp_code < 500:
                    raise
                with delivery.lock:
                    delivery.temporary.append(f"{ports[0]}: {exc.smtp_code} {exc.smtp_error!r}")
                time.sleep(0.1)
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                if not all(400 <= c < 500 for c in codes):
                    raise
                with delivery.lock:
                    delivery.temporary.append(f"{ports[0]}: RCPT {codes}")
                time.sleep(0.1)
            except (smtplib.SMTPServerDisconnected, OSError):
                # The listener went away (or refused): as an MTA does, try the next MX.
                with delivery.lock:
                    delivery.lost += 1
                if smtp is not None:
                    smtp.close()
                smtp = None
                ports = ports[1:] + ports[:1]
                time.sleep(0.05)
    close()


def send(
    jobs: Sequence[Job],
    *,
    per_connection: int = 25,
    timeout: float = 120,
    delivery: Delivery | None = None,
    stop: threading.Event | None = None,
) -> Delivery:
    """Run one client thread per job until every report is answered 250 (or ``timeout``)."""
    result = delivery or Delivery()
    deadline = time.monotonic() + timeout
    halt = stop or threading.Event()
    errors: list[BaseException] = []

    def run(job: Job) -> None:
        try:
            _client(job, result, per_connection, deadline, halt)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,), daemon=True) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return result


# -- looking at the store -------------------------------------------------------------------


class Store:
    """Plain reads (and the odd count) on the shared database, never holding a connection."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, poolclass=NullPool)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def pending(self) -> tuple[int, int]:
        """(pending messages, queued alerts)."""
        row = self.rows(
            "SELECT (SELECT count(*) FROM inbound_messages WHERE status = 'pending'), "
            "(SELECT count(*) FROM alerts WHERE status = 'queued')"
        )[0]
        return int(row[0]), int(row[1])

    def dispose(self) -> None:
        self.engine.dispose()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` holds; TimeoutError naming ``what`` after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started
