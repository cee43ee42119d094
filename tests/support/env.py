"""The test environment: SQLite and PostgreSQL databases, the CLI runner, a running service,
sample mail and TLS files."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from mailbridge.cli import main as cli_main
from mailbridge.runtime.serve import serve
from mailbridge.settings.config import Settings
from mailbridge.store import db

ROOT = Path(__file__).resolve().parents[2]


CORPUS = ROOT.parent / "shared" / "corpus"

PG_URL = os.environ.get("MAILBRIDGE_TEST_DATABASE_URL", "")


def _worker_database(url: str) -> str:
    """Under pytest-xdist each worker gets its own database beside the named one (``test_gw0``),
    since every test drops the public schema of the database it uses."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


PG_URL = _worker_database(PG_URL)


BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=pytest.mark.skipif(
            not PG_URL, reason="MAILBRIDGE_TEST_DATABASE_URL is not set; PostgreSQL run skipped"
        ),
    ),
]


def reset_postgres(url: str) -> None:
    """Drop everything so each test starts from an empty database, as a fresh install does."""
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


# Per worker: the prepared copy each template-made database starts from (see from_template).
_TEMPLATES: dict[tuple[str, str], str] = {}


def from_template(backend: str, tmp_path: Path, name: str,
                  prepare: Callable[[str], None]) -> str:
    """A fresh database that starts as a copy of one ``prepare`` built once per worker.

    The corpus tests need the same migrated, directory-loaded database for each of a thousand
    reports; migrating and importing again for each one was most of their time. SQLite copies the
    template's file; PostgreSQL makes the database ``WITH TEMPLATE`` (a file copy in the server).
    Each test still gets a database of its own, as a fresh install has.
    """
    key = (backend, name)
    if backend == "sqlite":
        if key not in _TEMPLATES:
            home = tmp_path.parent / f"template-{name}"
            home.mkdir(exist_ok=True)
            template = home / "template.db"
            prepare(f"sqlite:///{template}")
            _TEMPLATES[key] = str(template)
        target = tmp_path / "mailbridge.db"
        shutil.copyfile(_TEMPLATES[key], target)
        return f"sqlite:///{target}"
    base = make_url(PG_URL)
    template_name = f"{base.database}_{name}_template"
    case_name = f"{base.database}_{name}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if key not in _TEMPLATES:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{template_name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{template_name}"'))
                prepare(base.set(database=template_name).render_as_string(hide_password=False))
                _TEMPLATES[key] = template_name
            # a template must have no sessions: the prepare step's pool may still hold one
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"),
                         {"n": template_name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{case_name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{case_name}" TEMPLATE "{template_name}"'))
    finally:
        admin.dispose()
    return base.set(database=case_name).render_as_string(hide_password=False)


SettingsFactory = Callable[..., Settings]


class RunningService:
    """`serve` on its own thread and event loop, on an ephemeral port.

    Reading runs on `serve`'s worker thread here (``processing.worker_processes = 0``) unless
    ``processes`` is set: a test's monkeypatch reaches a thread, never a spawned process, and
    spawning interpreters for every test would cost minutes. The processes themselves are
    tested in tests/integration/test_lanes.py and by the acceptance tests' real `serve`.
    """

    def __init__(self, settings: Settings, *, processes: bool = False) -> None:
        if not processes:
            settings = dataclasses.replace(
                settings,
                processing=dataclasses.replace(settings.processing, worker_processes=0),
            )
        self.settings = settings
        self.host = ""
        self.port = 0
        self.result: Any = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> int:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(host: str, port: int) -> None:
                self.host, self.port = host, port
                self._ready.set()

            return await serve(self.settings, ready=ready, stop=self._stop)

        try:
            self.result = asyncio.run(main())
        except BaseException as exc:  # surfaced by start()/stop()
            self.result = exc
            self._ready.set()

    def start(self) -> RunningService:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("serve did not start within 30 s")
        if isinstance(self.result, BaseException):
            raise self.result
        return self

    def stop(self) -> Any:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        return self.result


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def require_corpus() -> list[Path]:
    files = corpus_files()
    if not files:
        pytest.skip(
            f"shared corpus not found at {CORPUS}; it lives beside the project in ../shared"
        )
    return files


def sample_report(n: int = 0, *, message_id: str | None = None, body: str | None = None) -> bytes:
    """A small plain report, unique per ``n``."""
    mid = message_id or f"report-{n}@carer.example"
    text_body = body or (
        f"Jordan (100231) has not come home. Last seen at 21:00 near the park. Report {n}."
    )
    return (
        "From: Foster Carer <carer@homes.example>\r\n"
        "To: missing@council.example\r\n"
        f"Subject: Missing child report {n}\r\n"
        f"Message-ID: <{mid}>\r\n"
        "Date: Thu, 26 Nov 2026 21:30:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{text_body}\r\n"
    ).encode()


class CliRunner:
    """`mailbridge ...` in-process, as an operator types it; returns (exit code, stdout, stderr)."""

    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.base = ["--config", str(config)]
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli_main([*self.base, *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> Any:
        code, out, err = self(*args)
        assert code == 0, err
        return json.loads(out)


def plain_cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> CliRunner:
    """A runner on ``database_url`` with an empty config and its own data dir."""
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", database_url)
    monkeypatch.setenv("MAILBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MAILBRIDGE_CONFIG", raising=False)
    config = tmp_path / "mailbridge.toml"
    config.write_text("", encoding="utf-8")
    return CliRunner(config, capsys)


def cli_runner(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    received_at: Callable[[str], datetime],
) -> CliRunner:
    """A runner on ``database_url`` whose `inject` stamps each file with ``received_at(stem)``.

    Fixture reports carry fixed Date headers; receipt times must match them, not today's date,
    or relative times ("last night") and the reference year would depend on when tests run.
    """
    from mailbridge.cli import messages as cli_messages
    from mailbridge.intake import make_incoming

    runner = plain_cli(database_url, tmp_path, monkeypatch, capsys)

    def make_at_receipt(raw: bytes, **kwargs: Any) -> Any:
        when = received_at(Path(str(kwargs["peer"])).stem)
        return make_incoming(raw, clock=lambda: when, **kwargs)

    monkeypatch.setattr(cli_messages, "make_incoming", make_at_receipt)
    return runner


class TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost, as PEM files."""

    def __init__(self, directory: Path) -> None:
        import trustme

        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost")
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = str(directory / "ca.pem")
        self.cert_file = str(directory / "server.pem")
        self.key_file = str(directory / "server.key")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.cert.cert_chain_pems[0].write_to_path(self.cert_file)
        for extra in self.cert.cert_chain_pems[1:]:
            extra.write_to_path(self.cert_file, append=True)
        self.cert.private_key_pem.write_to_path(self.key_file)

    def client_context(self) -> Any:
        """A client context that trusts this CA (names checked)."""
        import ssl

        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def toml(self) -> str:
        """The [smtp] lines that turn STARTTLS on with this certificate."""
        return f'tls_cert_file = "{self.cert_file}"\ntls_key_file = "{self.key_file}"\n'


def alert_rows(database_url: str, event: str) -> list[Any]:
    """The alert rows of one event, oldest first, read on a connection of their own."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from mailbridge.store import db
    from mailbridge.store.models import Alert

    engine = db.make_engine(database_url)
    try:
        with Session(engine) as s:
            return list(s.scalars(select(Alert).where(Alert.event == event).order_by(Alert.id)))
    finally:
        engine.dispose()


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
