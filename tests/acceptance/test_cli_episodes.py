"""`mailbridge episodes` and `mailbridge episode REF`, as an operator runs them, on both databases.

Two episodes from fixture reports: Jordan Carter (100231) still open, reported on the form;
Chloé Dubois (100232) reported missing and then back. The intake clock is fixed so receipt times
(and so the references' year) do not depend on the day the tests run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.env import CliRunner, cli_runner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPORTS = FIXTURES / "reports"
RECEIVED = {
    "form_missing": datetime(2026, 11, 26, 23, 7, tzinfo=UTC),
    "accented_iso8859_rfc2047": datetime(2026, 12, 3, 19, 32, tzinfo=UTC),
    "accented_8bit_headers": datetime(2026, 12, 4, 7, 17, tzinfo=UTC),
}
CONTRACT = {
    "reference",
    "child_id",
    "status",
    "last_seen_at",
    "returned_at",
    "police_reference",
    "reported_by",
    "sender_known",
    "message_ids",
}


Run = CliRunner


@pytest.fixture
def run(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    runner = cli_runner(database_url, tmp_path, monkeypatch, capsys, RECEIVED.__getitem__)
    assert runner("db", "upgrade")[0] == 0
    return runner


@pytest.fixture
def loaded(run: Run) -> Run:
    code, _out, err = run("directory", "import", str(FIXTURES / "directory.csv"))
    assert code == 0, err
    files = [str(REPORTS / f"{name}.eml") for name in RECEIVED]
    code, out, err = run("inject", *files)
    assert code == 0, err
    assert "stored 3 message(s), 0 duplicate(s)" in out
    return run


def references(run: Run) -> tuple[str, str]:
    jordan, chloe = run.json("episodes", "--json")
    return jordan["reference"], chloe["reference"]


def timeline(text: str) -> list[str]:
    """The events of `mailbridge episode REF`'s timeline lines ("    <at>  <event> message ...")."""
    return [line.split()[1] for line in text.splitlines() if line.startswith("    ")]


def test_episodes_json_and_text_with_and_without_open(loaded: Run) -> None:
    data = loaded.json("episodes", "--json")
    assert isinstance(data, list) and len(data) == 2
    for episode in data:
        assert episode.keys() >= CONTRACT
    jordan, chloe = data
    assert jordan["reference"] == "MB-2026-00001"
    assert jordan["child_id"] == "100231"
    assert jordan["status"] == "open"
    assert jordan["returned_at"] is None
    assert jordan["police_reference"] == "log 1123 of 26/11/2026"
    assert jordan["reported_by"] == "sue.carter@example.org"
    assert jordan["sender_known"] is False  # Sue is not on Jordan's record in directory.csv
    assert jordan["message_ids"] == ["form-missing-1@example.org"]
    assert chloe["reference"] == "MB-2026-00002"
    assert chloe["child_id"] == "100232"
    assert chloe["status"] == "returned"
    for key in ("last_seen_at", "returned_at"):
        parsed = datetime.fromisoformat(chloe[key])
        assert parsed.utcoffset() is not None, f"{key} has no offset: {chloe[key]}"
    assert datetime.fromisoformat(chloe["returned_at"]) == datetime(2026, 12, 4, 6, 30, tzinfo=UTC)
    assert chloe["message_ids"] == [
        "chloe-again-1@beechhouse.example.co.uk",
        "chloe-back-8bit@example.org",
    ]

    still_open = loaded.json("episodes", "--open", "--json")
    assert still_open == [jordan]

    # the text listing: one line per episode, and --open filters it the same way
    code, out, err = loaded("episodes")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("MB-2026-00001")
    assert "open" in lines[0] and "100231" in lines[0]
    assert "last seen 2026-11-26T21:30" in lines[0] and "1 message(s)" in lines[0]
    assert lines[1].startswith("MB-2026-00002")
    assert "returned" in lines[1] and "100232" in lines[1] and "2 message(s)" in lines[1]

    code, out, _err = loaded("episodes", "--open")
    assert code == 0
    assert out.splitlines() == lines[:1]


def test_episodes_with_none_says_so(run: Run) -> None:
    code, out, _err = run("episodes")
    assert (code, out.strip()) == (0, "no episodes")
    assert run.json("episodes", "--json") == []
    assert run.json("episodes", "--open", "--json") == []


def test_episode_ref_text_json_and_unknown(loaded: Run) -> None:
    jordan, chloe = references(loaded)
    code, out, err = loaded("episode", jordan)
    assert code == 0, err
    assert out.startswith(f"{jordan}  OPEN  child 100231")
    assert "police ref:  log 1123 of 26/11/2026" in out
    assert "reported by: sue.carter@example.org (sender not on the child record)" in out
    assert timeline(out) == ["missing"] and "form-missing-1@example.org" in out
    # children's data: the carer's words stay in the stored mail, not on a terminal
    assert "Window was open" not in out and "older males" not in out

    code, out, err = loaded("episode", chloe)
    assert code == 0, err
    assert out.startswith(f"{chloe}  RETURNED  child 100232")
    assert "returned:    2026-12-04T06:30:00" in out
    assert timeline(out) == ["missing", "returned"]

    code, out, _err = loaded("episode", jordan.lower())  # references are case-insensitive
    assert code == 0 and out.startswith(jordan)

    data = loaded.json("episode", chloe, "--json")
    assert data.keys() >= CONTRACT
    assert data["reference"] == chloe
    assert data["status"] == "returned"
    assert data["child_id"] == "100232"
    assert [m["event"] for m in data["messages"]] == ["missing", "returned"]
    assert data == next(e for e in loaded.json("episodes", "--json") if e["reference"] == chloe)

    # an unknown reference: exit 1, one line on stderr, nothing on stdout, no traceback
    for reference in ("MB-1999-00001", "not-a-reference"):
        for extra in ([], ["--json"]):
            code, out, err = loaded("episode", reference, *extra)
            assert code == 1, (reference, extra)
            assert out == ""
            assert err.strip() == f"mailbridge: error: no episode with reference {reference}"
            assert "Traceback" not in err
