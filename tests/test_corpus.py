"""Every message of the shared corpus goes through `mailbridge inject` and ends terminal.

The corpus (../shared/corpus) is real-world and hostile mail: broken MIME, bad encodings,
binary parts, mbox files. Nothing in it may crash intake, and nothing may stay pending
(DESIGN invariant 2). Raw bytes are kept exactly as they came.
"""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from mailbridge.store import db
from tests.conftest import require_corpus, sample_report

TERMINAL = ("processed", "ignored", "failed")


@pytest.fixture
def store_url(database_url: str) -> str:
    """PostgreSQL migrated as an operator would; SQLite left for inject to bring to head."""
    if not database_url.startswith("sqlite"):
        engine = db.make_engine(database_url)
        try:
            db.upgrade(engine)
        finally:
            engine.dispose()
    return database_url


def inject(tmp_path: Path, url: str, *files: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "mailbridge.toml"
    config.write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    env.update(
        MAILBRIDGE_DATABASE_URL=url,
        MAILBRIDGE_DATA_DIR=str(tmp_path / "data"),
        MAILBRIDGE_ADDRESSES="missing@council.example",
    )
    return subprocess.run(
        [sys.executable, "-m", "mailbridge", "--config", str(config), "inject", *files],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def stored_rows(url: str) -> list[Any]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text("SELECT id, peer, status, reason, error, raw FROM inbound_messages")
                ).all()
            )
    finally:
        engine.dispose()


def mbox_count(path: Path) -> int:
    box = mailbox.mbox(path, create=False)
    try:
        return len(box.keys())
    finally:
        box.close()


@pytest.mark.slow
def test_every_corpus_message_is_stored_exactly_and_ends_terminal(
    store_url: str, tmp_path: Path
) -> None:
    files = require_corpus()
    result = inject(tmp_path, store_url, *(str(p) for p in files))
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Traceback" not in result.stderr, result.stderr[-4000:]

    rows = stored_rows(store_url)
    statuses = Counter(r.status for r in rows)
    assert set(statuses) <= set(TERMINAL), f"not terminal: {statuses}"
    for r in rows:
        if r.status == "ignored":
            assert r.reason, f"row {r.id} ({r.peer}) ignored without a reason"
        if r.status == "failed":
            assert r.error, f"row {r.id} ({r.peer}) failed without the error"

    by_peer: dict[str, list[Any]] = {}
    for r in rows:
        by_peer.setdefault(r.peer, []).append(r)
    expected_total = 0
    for path in files:
        data = path.read_bytes()
        if data.startswith(b"From "):
            count = mbox_count(path)
            parts = [r for r in rows if r.peer.startswith(f"{path}#")]
            assert len(parts) == count, f"{path}: {len(parts)} stored, mbox holds {count}"
            expected_total += count
        else:
            mine = by_peer.get(str(path), [])
            assert len(mine) == 1, f"{path}: {len(mine)} rows"
            assert bytes(mine[0].raw) == data, f"{path}: stored bytes differ from the file"
            expected_total += 1
    assert len(rows) == expected_total
    assert f"stored {expected_total} message(s)" in result.stdout


def test_unreadable_file_is_named_and_the_others_are_kept(store_url: str, tmp_path: Path) -> None:
    first, last = tmp_path / "first.eml", tmp_path / "last.eml"
    first.write_bytes(sample_report(1))
    last.write_bytes(sample_report(2))
    missing = tmp_path / "no-such-report.eml"
    folder = tmp_path / "a-folder"
    folder.mkdir()

    result = inject(tmp_path, store_url, str(first), str(missing), str(folder), str(last))
    assert result.returncode != 0
    assert str(missing) in result.stderr
    assert str(folder) in result.stderr
    assert "Traceback" not in result.stderr

    rows = stored_rows(store_url)
    assert sorted((r.peer, bytes(r.raw)) for r in rows) == sorted(
        [(str(first), sample_report(1)), (str(last), sample_report(2))]
    )
    assert all(r.status in TERMINAL for r in rows), [r.status for r in rows]
