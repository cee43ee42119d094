"""Every migration goes down and up again with rows in the tables, on SQLite and PostgreSQL.

A schema test with empty tables misses the migrations that only break on a live store: a NOT
NULL column added without a default, a SQLite batch copy that loses rows, a downgrade that
drops data it should keep. So the store is filled through the real command line (directory
import, a report, its alerts, a return), then walked down one revision at a time to the first
and back up to head. Every step must succeed, and every table that exists on both sides of a
step keeps its rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from mailbridge.store import db
from tests.support.env import plain_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        names = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in names}


def _step(url: str, engine: Engine, action: str, revision: str) -> None:
    db.migrate(engine, revision, downgrade=action == "downgrade")


def test_every_revision_goes_down_and_up_with_rows(database_url, tmp_path, monkeypatch, capsys):
    cli = plain_cli(database_url, tmp_path, monkeypatch, capsys)
    assert cli("db", "upgrade")[0] == 0
    assert cli("directory", "import", str(FIXTURES / "directory.csv"))[0] == 0
    reports = sorted((FIXTURES / "reports").glob("*.eml"))[:12]
    code, _, err = cli("inject", *map(str, reports))
    assert code == 0, err
    assert cli("deliver")[0] == 0

    engine = db.make_engine(database_url)
    try:
        filled = _counts(engine)
        for table in ("inbound_messages", "episodes", "children", "alerts", "audit_log"):
            assert filled.get(table, 0) > 0, f"{table} has no rows to migrate"

        script = ScriptDirectory.from_config(db.alembic_config(database_url))
        revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
        assert len(revisions) >= 8

        before = filled
        for target in reversed(revisions[:-1]):  # head-1 ... first
            _step(database_url, engine, "downgrade", target)
            after = _counts(engine)
            for table in after.keys() & before.keys():
                assert after[table] == before[table], f"downgrade to {target} changed {table}"
            before = after
        bottom = set(before)
        assert "inbound_messages" in bottom
        for target in revisions[1:]:
            _step(database_url, engine, "upgrade", target)
            after = _counts(engine)
            for table in after.keys() & before.keys():
                assert after[table] == before[table], f"upgrade to {target} changed {table}"
            before = after
        assert db.current_revision(engine) == revisions[-1]
        for table in bottom:  # the tables that lived through the whole walk kept every row
            assert before[table] == filled[table], table
    finally:
        engine.dispose()


@pytest.mark.parametrize("revision", ["0008"])
def test_needs_confirmation_defaults_to_false_on_existing_episodes(revision, database_url, tmp_path,
                                                                    monkeypatch, capsys):
    """An episode from before 0008 reads as confirmed: the flag is only ever set by reading."""
    cli = plain_cli(database_url, tmp_path, monkeypatch, capsys)
    assert cli("db", "upgrade")[0] == 0
    assert cli("directory", "import", str(FIXTURES / "directory.csv"))[0] == 0
    report = sorted((FIXTURES / "reports").glob("*.eml"))[0]
    assert cli("inject", str(report))[0] == 0
    engine = db.make_engine(database_url)
    try:
        _step(database_url, engine, "downgrade", "0007")
        _step(database_url, engine, "upgrade", revision)
        with engine.connect() as conn:
            flags = conn.execute(text("SELECT needs_confirmation FROM episodes")).scalars().all()
        assert flags and not any(flags)
    finally:
        engine.dispose()
