"""Shared fixtures: a real database (SQLite, and PostgreSQL when configured) and real servers.

Set MAILBRIDGE_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run
every database test on PostgreSQL as well as SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailbridge.settings.config import Settings, load_settings
from mailbridge.store import db
from tests.support.env import (
    BACKENDS,
    PG_URL,
    CliRunner,
    RunningService,
    SettingsFactory,
    TlsFiles,
    reset_postgres,
)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mailbridge.db'}"
    reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = db.make_engine(database_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> SettingsFactory:
    """Settings as an operator would write them: a TOML file plus environment overrides."""

    def factory(toml: str = "", **env: str) -> Settings:
        path = tmp_path / "mailbridge.toml"
        path.write_text(toml, encoding="utf-8")
        environ = {
            "MAILBRIDGE_DATABASE_URL": database_url,
            "MAILBRIDGE_DATA_DIR": str(tmp_path / "data"),
            "MAILBRIDGE_SMTP_PORT": "0",
            "MAILBRIDGE_ADDRESSES": "missing@council.example",
        }
        environ.update({f"MAILBRIDGE_{k.upper()}": v for k, v in env.items()})
        return load_settings(str(path), environ)

    return factory


@pytest.fixture
def run_service() -> Iterator[Callable[[Settings], RunningService]]:
    started: list[RunningService] = []

    def start(settings: Settings, *, processes: bool = False) -> RunningService:
        svc = RunningService(settings, processes=processes).start()
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return TlsFiles(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def toml_cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[[str], CliRunner]:
    """``make(toml)``: a runner with that TOML as its config file, on ``database_url``, its own
    data dir and missing@council.example; no IMAP or relay from the environment."""
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", database_url)
    monkeypatch.setenv("MAILBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MAILBRIDGE_ADDRESSES", "missing@council.example")
    for name in ("MAILBRIDGE_CONFIG", "MAILBRIDGE_IMAP_URL", "MAILBRIDGE_RELAY_URL"):
        monkeypatch.delenv(name, raising=False)

    def make(toml: str) -> CliRunner:
        config = tmp_path / "mailbridge.toml"
        config.write_text(toml, encoding="utf-8")
        return CliRunner(config, capsys)

    return make
