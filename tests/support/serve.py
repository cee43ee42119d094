"""A real `mailbridge serve` process, and reading its store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

ADDRESS = "missing@council.example"


# Short leases and retry delays so a restarted server reclaims a killed server's work quickly.
FAST_TOML = """\
[processing]
lease_seconds = 2
retry_delay_seconds = 1
poll_seconds = 0.2
[smtp]
# Bursts of hundreds of reports from one sender: the rate limit is tested in test_smtp_security.
rate_limit_per_sender = 0
rate_limit_per_ip = 0
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    env.update(overrides)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class Serve:
    """One `mailbridge serve` subprocess; output goes to files so a chatty log never blocks it."""

    def __init__(
        self,
        tmp_path: Path,
        database_url: str,
        *,
        toml: str = FAST_TOML,
        port: int | None = None,
        name: str = "serve",
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.port = port or free_port()
        self.config = tmp_path / "mailbridge.toml"
        self.config.write_text(toml, encoding="utf-8")
        self.stdout_path = tmp_path / f"{name}.out"
        self.stderr_path = tmp_path / f"{name}.err"
        settings = {
            "MAILBRIDGE_DATABASE_URL": database_url,
            "MAILBRIDGE_DATA_DIR": str(tmp_path / "data"),
            "MAILBRIDGE_SMTP_PORT": str(self.port),
            "MAILBRIDGE_ADDRESSES": ADDRESS,
        }
        settings.update({f"MAILBRIDGE_{k.upper()}": v for k, v in (env or {}).items()})
        self.env = base_env(**settings)
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "mailbridge", "--config", str(self.config), *args]

    def start(self, *, wait: bool = True) -> Serve:
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.command("serve"), env=self.env, cwd=self.tmp_path, stdout=out, stderr=err
            )
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout: float = 30) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"serve exited with {self.proc.returncode} before listening:\n{self.stderr()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail(
            f"serve did not listen on port {self.port} within {timeout} s:\n{self.stderr()}"
        )

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"serve did not exit within {timeout} s:\n{self.stderr()}")

    def stop(self, timeout: float = 15) -> int:
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Another mailbridge command with the same settings (e.g. `db upgrade`, `messages`)."""
        return subprocess.run(
            self.command(*args),
            env=self.env,
            cwd=self.tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def reader(database_url: str) -> Engine:
    """A plain engine for looking at the store; no BEGIN IMMEDIATE, so it never blocks serve."""
    return create_engine(database_url, poolclass=NullPool)


def fetch(database_url: str, sql: str, **params: Any) -> list[Any]:
    engine = reader(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()
