"""Engines and schema state: SQLite tuned for durable single-box use, PostgreSQL via psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from mailbridge.errors import DatabaseUnavailableError, SchemaBehindError
from mailbridge.resources import resource_path


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_memory(engine: Engine) -> bool:
    """An in-memory SQLite database: it exists in this process only."""
    return engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """One engine per process; SQLite gets WAL and a full fsync so 250 survives power loss."""
    if is_sqlite(url):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            poolclass=NullPool if path == ":memory:" else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10},
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, issue BEGIN, so writers take the lock up front.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


# Execution option for a connection that only reads: a plain (deferred) BEGIN on SQLite, so a
# long read (a report) sees one snapshot without holding the write lock that intake needs.
READ_ONLY = "mailbridge_read_only"


def _sqlite_begin_immediate(conn: Any) -> None:
    """Take the write lock at BEGIN: no read-then-upgrade deadlocks between writers.

    Readers marked ``mailbridge_read_only`` (metrics, health) take a plain BEGIN: in WAL mode
    they read a snapshot and never wait for, or hold up, a writer.
    """
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resource_path("migrations")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# pg_advisory_xact_lock key for migrations ("mailbridge-migrate" folded to 63 bits).
MIGRATION_LOCK = 0x6D62_6D69_6772_6174


def upgrade(engine: Engine) -> None:
    """Apply migrations to head on the given engine's database.

    On PostgreSQL the migration holds a transaction-level advisory lock, so instances that
    start together (each running `db upgrade` first) migrate one after the other: the second
    finds the schema at head and does nothing.
    """
    migrate(engine, "head")


def migrate(engine: Engine, revision: str, *, downgrade: bool = False) -> None:
    """Move the schema to ``revision`` in one transaction (up, or down with ``downgrade``).

    On SQLite, foreign keys are off for the migration: a batch migration rebuilds a table by
    dropping it, and with foreign keys on that drop cascades to the rows that point at it (a
    rebuilt ``episodes`` emptied ``episode_messages``; tests/migrations/test_roundtrip.py).
    The pragma only takes effect outside a transaction, so it is set on the driver connection
    before BEGIN, and restored after.
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _driver_pragma(conn, "PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                    )
                cfg.attributes["connection"] = conn
                if downgrade:
                    command.downgrade(cfg, revision)
                else:
                    command.upgrade(cfg, revision)
        finally:
            if sqlite:
                _driver_pragma(conn, "PRAGMA foreign_keys=ON")


def _driver_pragma(conn: Connection, pragma: str) -> None:
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(pragma)
    finally:
        cursor.close()


def ensure_schema(engine: Engine) -> None:
    """SQLite upgrades itself (it is the embedded default); PostgreSQL waits for an operator."""
    url = engine.url.render_as_string(hide_password=False)
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(
            f"cannot reach the database {engine.url.render_as_string(hide_password=True)}: "
            f"{_first_line(exc)}"
        ) from exc
    head = head_revision(url)
    if current == head:
        return
    if is_sqlite(url):
        upgrade(engine)
        return
    raise SchemaBehindError(
        f"the database schema is at {current or 'nothing (empty database)'} but this mailbridge "
        f"needs {head}; run `mailbridge db upgrade` first"
    )


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
