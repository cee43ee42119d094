from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from mailbridge.store import db
from mailbridge.store.models import Base


def test_migrations_give_the_same_schema_as_the_models(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_schema_is_at_head(engine, database_url):
    assert db.current_revision(engine) == db.head_revision(database_url)


def test_sqlite_is_in_wal_with_full_sync(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_fresh_sqlite_upgrades_itself(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'new' / 'x.db'}")
    assert db.current_revision(engine) is None
    db.ensure_schema(engine)
    assert db.current_revision(engine) == db.head_revision(str(engine.url))
    engine.dispose()


def test_postgres_refuses_a_schema_that_is_behind():
    import pytest

    from mailbridge.errors import SchemaBehindError
    from tests.conftest import PG_URL, reset_postgres

    if not PG_URL:
        pytest.skip("MAILBRIDGE_TEST_DATABASE_URL is not set; PostgreSQL run skipped")
    reset_postgres(PG_URL)
    engine = db.make_engine(PG_URL)
    try:
        with pytest.raises(SchemaBehindError, match="mailbridge db upgrade"):
            db.ensure_schema(engine)
    finally:
        engine.dispose()


def test_two_upgrades_at_once_both_succeed(database_url):
    """Instances that start together each run `db upgrade` first: one migrates, one waits."""
    import threading

    engines = [db.make_engine(database_url) for _ in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(engine):
        start.wait()
        try:
            db.upgrade(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert errors == []
        assert db.current_revision(engines[0]) == db.head_revision(database_url)
    finally:
        for e in engines:
            e.dispose()


def test_a_read_only_connection_does_not_hold_the_write_lock(tmp_path):
    """A report reads in one snapshot (deferred BEGIN) while intake still commits."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    reader = engine.connect().execution_options(**{db.READ_ONLY: True})
    writer = engine.connect()
    try:
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0  # BEGIN (deferred)
        reader.execute(text("CREATE TEMP TABLE r AS SELECT n FROM t"))  # as the report does
        raw: Any = writer.connection.dbapi_connection
        raw.execute("PRAGMA busy_timeout=200")
        with writer.begin():  # BEGIN IMMEDIATE: would time out behind an immediate reader
            writer.execute(text("INSERT INTO t VALUES (1)"))
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0  # same snapshot
        reader.rollback()
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 1
    finally:
        reader.close()
        writer.close()
        engine.dispose()
