"""Every fixture report and every hostile corpus message through read -> fields -> classify."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbridge.directory import csv_file
from mailbridge.reading import classify, extract_fields, read_message
from tests.support.reading_accuracy import DIRECTORY, FIXTURES, score, table

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
LONDON = ZoneInfo("Europe/London")
FIXTURE_FILES = sorted(FIXTURES.glob("*.eml"))
# Each fixture is read once per process: the table below adds up what the tests above read.
_score = functools.cache(score)


def test_the_fixture_directory_imports_cleanly() -> None:
    """Every batch's writer appends children to one directory; two placements of one name with
    different types (as two writers once did) would make `directory import` refuse the file,
    and the pipeline test with it."""
    parsed = csv_file.read_directory_file(DIRECTORY)
    assert parsed.errors == ()
    ids = [r.child_id for r in parsed.rows]
    assert len(ids) == len(set(ids))


def test_there_are_enough_fixtures() -> None:
    assert len(FIXTURE_FILES) >= 25
    for path in FIXTURE_FILES:
        assert path.with_suffix(".expected.json").is_file(), path


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture(path: Path) -> None:
    result = _score(path)
    misses = [
        f"{c.name}: expected {c.expected!r}, got {c.actual!r}"
        for c in result.checks
        if not c.ok and c.name not in result.known_misses
    ]
    assert not misses, "\n".join(misses)


def test_accuracy_table_renders(capsys: pytest.CaptureFixture[str]) -> None:
    # a slice, not all: under xdist the worker that runs this would read every fixture again
    # (`python -m tests.support.reading_accuracy` prints the whole table)
    rendered = table([_score(p) for p in FIXTURE_FILES[::40]])
    assert "| **all** |" in rendered
    print(rendered)


CORPUS_FILES = (
    sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".md")
    if CORPUS.is_dir()
    else []
)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
def test_corpus_is_there() -> None:
    assert len(CORPUS_FILES) >= 140


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
@pytest.mark.parametrize(
    "path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)) if CORPUS.is_dir() else ""
)
def test_corpus_message_is_read_without_crashing(path: Path) -> None:
    received = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    started = time.perf_counter()
    msg = read_message(path.read_bytes())
    fields = extract_fields(msg, tz=LONDON, received_at=received)
    result = classify(msg, fields)
    elapsed = time.perf_counter() - started
    assert result.kind in {
        "missing", "returned", "info", "auto_reply", "bounce", "list", "not_a_report"}
    assert result.reason
    assert elapsed < 5, f"{path.name} took {elapsed:.1f}s"
