"""The README's walkthrough, followed literally on a fresh copy of the repository (issue 19).

A copy of the files git tracks goes to a temporary folder, as a fresh clone would. ``scripts/serve``
creates its .venv and installs mailbridge there, as a council's first run does; then every step
of the walkthrough runs as the README gives it (tests/support/readme.py reads them): the
``console`` commands, the ``sh`` scripts that send mail, and the "same script with these lines
changed". Each command's output must be what the README shows.

The clock: the README was run on 26 November 2026 from 10:07. The walkthrough's own commands run
under libfaketime (Debian's ``faketime``, installed by .ci/run) set to that morning (wall clock
only; the monotonic clock stays real), so "7pm last night" means what the README says it means
whatever the hour of the test. Only the minutes of the
run's own clock, random identifiers, digests and client ports are hidden from the comparison.

The fixed ports of the walkthrough (SMTP 8025, the sink 1025) must be free, or the test skips.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.readme import Step, matches, normalise, patch_script, walkthrough

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FAKETIME_LIBS = (
    Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
    Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
)
STARTED = datetime(2026, 11, 26, 10, 7, 25, tzinfo=UTC)  # when the README's serve started
PORTS = {"scripts/serve": 8025, "-m aiosmtpd": 1025}
TOKEN = re.compile(r"missing\+a\d+\.mb-\d{4}-\d{5}\.[a-z_]+\.[a-z2-7]{16}@localhost")
OUTBOX_FILE = re.compile(r"var/outbox/(mb\.[0-9a-f]{32}@localhost\.eml)")


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _git_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout
    return [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]


class Walk:
    """The fresh copy, its environment and its background processes."""

    def __init__(self, clone: Path, faketime: Path) -> None:
        self.clone = clone
        self.env = {
            k: v for k, v in os.environ.items()
            if not k.startswith("MAILBRIDGE_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")
        }
        self.faketime = faketime
        self.background: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self.captured: dict[str, str] = {}
        self.script = ""
        self.failures: list[str] = []
        self.offset: int | None = None

    def fake_env(self) -> dict[str, str]:
        """The environment of a walkthrough step: the clock of the README's morning."""
        if self.offset is None:
            self.offset = int(STARTED.timestamp() - time.time())
        return {
            **self.env,
            "LD_PRELOAD": str(self.faketime),
            "FAKETIME": f"{self.offset:+d}s",
            # A faked monotonic clock makes threading waits hang (the sender's poll would
            # never wake); with it real, only time.sleep() is refused (EINVAL) by libfaketime
            # 0.9.10, which serve's walkthrough path does not reach.
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "TZ": "UTC",
        }

    def install(self) -> None:
        """The first run of scripts/serve creates .venv and installs (real time, not faked)."""
        done = subprocess.run(
            ["bash", "scripts/serve", "--help"], cwd=self.clone, env=self.env,
            capture_output=True, timeout=1200, check=False,
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        out = done.stdout.decode()
        assert "==> creating .venv" in out and "==> installing mailbridge (editable)" in out, out

    def substitute(self, text: str, expected: list[str]) -> str:
        for old, new in self.captured.items():
            text = text.replace(old, new)
        for name in OUTBOX_FILE.findall(text):
            if (self.clone / "var" / "outbox" / name).exists():
                continue
            # A README file name is random: the one meant is the file for the recipient the
            # expected output shows first.
            first = next((e for e in expected if e.startswith("X-Mailbridge-Envelope-To:")), "")
            for path in sorted((self.clone / "var" / "outbox").glob("*.eml")):
                if path.read_text(errors="replace").splitlines()[0] == first:
                    text = text.replace(name, path.name)
                    break
        return text

    def capture(self, expected: list[str], actual: list[str]) -> None:
        """Remember the run's value of each reply token the README shows, for later steps."""
        for old, new in zip(
            TOKEN.findall("\n".join(expected)), TOKEN.findall("\n".join(actual)), strict=False
        ):
            if normalise(old) == normalise(new):
                self.captured[old] = new

    def settle(self) -> None:
        """Wait (up to 60 s) until serve has processed what it took and sent what it queued."""
        db = self.clone / "var" / "mailbridge.db"
        if not db.exists() or "serve" not in self.background:
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    busy = conn.execute(
                        "SELECT (SELECT count(*) FROM inbound_messages WHERE status = 'pending')"
                        " + (SELECT count(*) FROM alerts WHERE status IN ('queued', 'sending'))"
                    ).fetchone()[0]
            except sqlite3.Error:
                busy = 1
            if not busy:
                return
            time.sleep(0.3)

    def start(self, step: Step, command: str) -> None:
        kind = next(k for k in PORTS if k in command)
        name = "serve" if kind == "scripts/serve" else "sink"
        self.stop(name)
        log = self.clone.parent / f"{name}-{step.line}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                ["bash", "-c", command], cwd=self.clone, env=self.fake_env(),
                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.background[name] = (proc, log)
        deadline = time.monotonic() + 120
        while _free(PORTS[kind]):
            assert proc.poll() is None, f"line {step.line}: {command} ended:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"line {step.line}: {command} never listened"
            time.sleep(0.2)
        if name == "serve":
            while "listening on" not in log.read_text():
                time.sleep(0.1)
        self.compare(step, log.read_text().splitlines())

    def stop(self, name: str) -> None:
        if name in self.background:
            proc, log = self.background.pop(name)
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                self.failures.append(f"{name} did not stop on SIGTERM:\n{log.read_text()[-800:]}")

    def run(self, step: Step) -> None:
        text = self.substitute(step.text, step.expected)
        if step.kind == "patch":
            self.script = patch_script(self.script, text)
            text = self.script
        elif step.kind == "script":
            self.script = text
        if step.kind == "command" and any(k in text for k in PORTS):
            self.start(step, text)
            return
        self.settle()
        done = subprocess.run(
            ["bash", "-c", text], cwd=self.clone, env=self.fake_env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False,
        )
        out = done.stdout.decode("utf-8", "replace").splitlines()
        refused = any("error:" in e or e.startswith("<**") for e in step.expected)
        if done.returncode != 0 and not refused:
            self.failures.append(
                f"README line {step.line} ({step.section}): exit {done.returncode}\n"
                f"$ {text}\n" + "\n".join(out[-30:])
            )
            return
        if step.kind == "command":
            self.compare(step, out)
            self.capture(step.expected, out)

    def compare(self, step: Step, actual: list[str]) -> None:
        if matches(step.expected, actual):
            return
        self.failures.append(
            f"README line {step.line} ({step.section}): $ {step.text}\n"
            "--- README shows\n" + "\n".join(step.expected)
            + "\n--- the run printed\n" + "\n".join(actual)
        )


@pytest.fixture
def walk(tmp_path: Path) -> Iterator[Walk]:
    lib = next((p for p in FAKETIME_LIBS if p.exists()), None)
    if lib is None:
        pytest.skip("libfaketime is not installed (Debian package faketime; .ci/run installs it)")
    for port in PORTS.values():
        if not _free(port):
            pytest.skip(f"port {port}, which the walkthrough uses, is taken")
    # MAILBRIDGE_README_KEEP=DIR keeps the copy there, to look at after a failure.
    clone = Path(os.environ.get("MAILBRIDGE_README_KEEP", tmp_path)) / "mailbridge"
    for name in _git_files():
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
        target.chmod((ROOT / name).stat().st_mode)
    w = Walk(clone, lib)
    try:
        yield w
    finally:
        for name in list(w.background):
            w.stop(name)


def test_the_walkthrough_prints_what_the_readme_shows(walk: Walk) -> None:
    if subprocess.run(["which", "swaks"], capture_output=True, check=False).returncode:
        pytest.skip("swaks is not installed (the walkthrough uses it; .ci/run installs it)")
    steps = walkthrough(README)
    assert len(steps) > 20, "the walkthrough has lost its steps"
    walk.install()
    for step in steps:
        walk.run(step)
    walk.stop("serve")
    (Path(os.environ.get("MAILBRIDGE_README_REPORT", "/dev/null"))).write_text(
        "\n\n".join(walk.failures), encoding="utf-8"
    )
    assert not walk.failures, f"{len(walk.failures)} step(s) differ:\n\n" + "\n\n".join(
        walk.failures
    )
