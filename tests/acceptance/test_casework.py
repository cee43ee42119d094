"""Casework through the real CLI, on SQLite and PostgreSQL: link, split, merge, void, returned,
reopen, correct and confirm, what each changes, who each tells, and the one-line refusals.

The reports are fixture emails as carers send them: Jordan Carter (100231) on the carers' form,
and the night manager's email about "Kai Morgan", who is in no directory under that name.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailbridge.episodes import casework
from mailbridge.errors import CaseworkRefused
from mailbridge.settings.config import load_settings
from mailbridge.store import db
from mailbridge.store.models import Alert, DueAction, Episode, Interview
from tests.support.env import PG_URL, CliRunner, cli_runner, reset_postgres

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPORTS = FIXTURES / "reports"
RECEIVED = {
    "form_missing": datetime(2026, 11, 26, 23, 7, tzinfo=UTC),
    # Its Date header (2 Dec) is later than the receipt, so times are read against the receipt.
    "unknown_child_home": datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
}
JORDAN = "MB-2026-00001"
KAI = "MB-2026-00002"


@pytest.fixture
def run(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> CliRunner:
    runner = cli_runner(database_url, tmp_path, monkeypatch, capsys, RECEIVED.__getitem__)
    assert runner("db", "upgrade")[0] == 0
    code, _out, err = runner("directory", "import", str(FIXTURES / "directory.csv"))
    assert code == 0, err
    code, _out, err = runner("inject", *(str(REPORTS / f"{n}.eml") for n in RECEIVED))
    assert code == 0, err
    return runner


def engine_of(database_url: str) -> Any:
    return db.make_engine(database_url)


def alerts_for(database_url: str, reference: str, event: str) -> list[Alert]:
    engine = engine_of(database_url)
    try:
        with Session(engine) as session:
            return list(
                session.scalars(
                    select(Alert)
                    .join(Episode, Episode.id == Alert.episode_id)
                    .where(Episode.reference == reference, Alert.event == event)
                    .order_by(Alert.id)
                )
            )
    finally:
        engine.dispose()


def pending_timers(database_url: str, reference: str) -> list[str]:
    engine = engine_of(database_url)
    try:
        with Session(engine) as session:
            return list(
                session.scalars(
                    select(DueAction.kind)
                    .join(Episode, Episode.id == DueAction.episode_id)
                    .where(Episode.reference == reference, DueAction.status == "pending")
                )
            )
    finally:
        engine.dispose()


def refusal(run: CliRunner, *args: str) -> str:
    """The command exits 1 with one line on stderr and nothing on stdout; that line."""
    code, out, err = run(*args)
    assert code == 1, (args, out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err.strip()


def test_both_forms_of_episode_parse(run: CliRunner) -> None:
    for args in (["episode", JORDAN], ["episode", "show", JORDAN]):
        code, out, err = run(*args)
        assert code == 0, err
        assert out.startswith(f"{JORDAN}  OPEN  child 100231")
    assert run.json("episode", "--json", JORDAN)["reference"] == JORDAN
    assert run.json("episode", "show", JORDAN.lower(), "--json")["history"] == []
    # the existing --absence-type keeps working on the old form, and is in the history? no:
    # it keeps its own audit row (docs/ssda903.md); the record changes all the same
    code, _out, err = run("episode", JORDAN, "--absence-type", "A", "--by", "amy")
    assert code == 0 and "M→A" in err
    assert run.json("episode", JORDAN, "--json")["absence_type"] == "A"
    assert refusal(run, "episode", "show", "MB-1999-00001") == (
        "mailbridge: error: no episode with reference MB-1999-00001"
    )


def test_link_sends_the_missing_alert_late_from_the_original_report(
    run: CliRunner, database_url: str
) -> None:
    kai = run.json("episode", KAI, "--json")
    assert kai["child_id"] is None and kai["status"] == "open"

    assert refusal(run, "episode", "link", KAI, "--child", "999999") == (
        "mailbridge: error: no child with ID '999999' in the directory"
    )
    assert refusal(run, "episode", "link", "MB-2026-09999", "--child", "100235") == (
        "mailbridge: error: no episode with reference MB-2026-09999"
    )
    code, out, err = run(
        "episode", "link", KAI, "--child", "100235", "--by", "Priya Shah", "--note", "phoned"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{KAI} linked to child 100235 by Priya Shah"
    assert f"  {KAI} child_id: (none) -> 100235" in lines
    assert "told:" in lines
    told = "\n".join(lines[lines.index("told:") :])
    assert "Daniel Reid <daniel.reid@council.example> (social worker) - missing" in told
    assert "Grace Mensah <grace.mensah@council.example> (iro) - missing" in told

    sent = {a.recipient: a for a in alerts_for(database_url, KAI, "missing")}
    assert {"daniel.reid@council.example", "grace.mensah@council.example"} <= set(sent)
    body = sent["daniel.reid@council.example"].body_text
    assert "Matched late by Priya Shah" in body
    assert "reported missing at 27 Nov 2026 09:00 GMT" in body and "Note: phoned" in body
    # it stands in for the alert they never had: the report itself, as received then
    assert "Last seen in the garden at 21:50" in body
    assert "Received:               27 Nov 2026 09:00 GMT" in body
    # the footer: how to acknowledge, what happens if nobody does, and the email commands
    assert "Reply to this email to acknowledge it: nobody has yet" in body
    assert "Or start your reply with a command: RETURNED 14:30, VOID reason" in body
    # the clocks run from the original report: the first escalation is planned from 27 Nov
    engine = engine_of(database_url)
    with Session(engine) as session:
        due = session.scalars(
            select(DueAction.due_at)
            .join(Episode, Episode.id == DueAction.episode_id)
            .where(Episode.reference == KAI)
        ).all()
    engine.dispose()
    assert due and min(due) < RECEIVED["unknown_child_home"] + timedelta(days=1)

    data = run.json("episode", "show", KAI, "--json")
    assert data["child_id"] == "100235" and data["match_method"] == "staff"
    assert data["allocations"]["social_worker"]["email"] == "daniel.reid@council.example"
    first = data["history"][0]
    assert first.keys() >= {"when", "who", "what", "old", "new", "note"}
    assert (first["who"], first["what"], first["old"], first["new"], first["note"]) == (
        "Priya Shah",
        "link child_id",
        None,
        "100235",
        "phoned",
    )
    assert refusal(run, "episode", "link", KAI, "--child", "100236") == (
        f"mailbridge: error: {KAI} is already linked to child 100235"
    )


def test_returned_closes_routes_and_starts_the_interview_clock(
    run: CliRunner, database_url: str
) -> None:
    assert refusal(run, "episode", "returned", JORDAN, "--at", "2026-11-26T21:00Z").startswith(
        "mailbridge: error: a return at 2026-11-26T21:00+00:00 is before the last sighting"
    )
    code, out, err = run(
        "episode", "returned", JORDAN, "--at", "2026-11-27T10:15", "--by", "Priya Shah"
    )
    assert code == 0, err
    assert out.splitlines()[0] == f"{JORDAN} closed at 27 Nov 2026 10:15 GMT by Priya Shah"
    assert "Sam Patel <sam.patel@council.example> (social worker) - returned" in out
    data = run.json("episode", JORDAN, "--json")
    assert (data["status"], data["returned_at"]) == ("returned", "2026-11-27T10:15:00+00:00")
    assert "still_missing" not in pending_timers(database_url, JORDAN)
    engine = engine_of(database_url)
    with Session(engine) as session:
        interview = session.scalars(select(Interview)).one()
        assert interview.due_at == datetime(2026, 11, 30, 10, 15, tzinfo=UTC)
    engine.dispose()
    assert any(
        "Recorded as returned" in a.body_text for a in alerts_for(database_url, JORDAN, "returned")
    )
    assert refusal(run, "episode", "returned", JORDAN, "--at", "now").startswith(
        f"mailbridge: error: {JORDAN} is already returned"
    )


def test_void_cancels_timers_and_leaves_the_figures_and_reopen_brings_them_back(
    run: CliRunner, database_url: str
) -> None:
    assert pending_timers(database_url, JORDAN)
    code, out, err = run("episode", "void", JORDAN, "--reason", "test", "--by", "duty desk")
    assert code == 0, err
    assert out.splitlines()[0] == f"{JORDAN} void by duty desk: test"
    assert pending_timers(database_url, JORDAN) == []
    listed = {e["reference"]: e for e in run.json("episodes", "--json")}
    assert listed[JORDAN]["status"] == "void" and listed[JORDAN]["void_reason"] == "test"
    assert JORDAN not in {e["reference"] for e in run.json("episodes", "--open", "--json")}
    assert refusal(run, "episode", "void", JORDAN, "--reason", "again") == (
        f"mailbridge: error: {JORDAN} is already void (test)"
    )
    assert refusal(run, "episode", "returned", JORDAN, "--at", "now") == (
        f"mailbridge: error: {JORDAN} is void; reopen it first: cannot close it"
    )
    code, out, err = run("episode", "reopen", JORDAN, "--reason", "it was real")
    assert code == 0, err
    assert f"  {JORDAN} status: void -> open" in out.splitlines()
    assert "still_missing" in pending_timers(database_url, JORDAN)
    history = run.json("episode", "show", JORDAN, "--json")["history"]
    assert [(h["what"], h["old"], h["new"]) for h in history] == [
        ("void status", "open", "void"),
        ("void void_reason", None, "test"),
        ("reopen status", "void", "open"),
        ("reopen void_reason", "test", None),
    ]
    assert history[2]["note"] == "it was real"


def test_correct_keeps_old_values_and_confirm_clears_the_flag(
    run: CliRunner, database_url: str
) -> None:
    code, out, err = run(
        "episode",
        "correct",
        JORDAN,
        "--risk",
        "medium",
        "--police-ref",
        "LOG 77",
        "--last-seen",
        "2026-11-26T21:00Z",
        "--absence-type",
        "A",
        "--by",
        "amy",
    )
    assert code == 0, err
    assert f"  {JORDAN} risk_level: high -> medium" in out.splitlines()
    data = run.json("episode", JORDAN, "--json")
    assert (data["risk_level"], data["police_reference"], data["absence_type"]) == (
        "medium",
        "LOG 77",
        "A",
    )
    assert data["last_seen_at"] == "2026-11-26T21:00:00+00:00"
    olds = {h["field"]: h["old"] for h in data["history"]}
    assert olds["police_reference"] == "log 1123 of 26/11/2026"
    assert olds["last_seen_at"] == "2026-11-26T21:30:00+00:00"
    assert refusal(run, "episode", "correct", JORDAN).startswith(
        "mailbridge: error: nothing to correct"
    )
    assert refusal(run, "episode", "correct", JORDAN, "--risk", "medium") == (
        f"mailbridge: error: {JORDAN} already has those values; nothing changed"
    )

    assert refusal(run, "episode", "confirm", JORDAN) == (
        f"mailbridge: error: {JORDAN} does not need confirmation"
    )
    engine = engine_of(database_url)
    with engine.begin() as conn:  # as the reading sets it when it is unsure (issue 13)
        conn.execute(
            update(Episode)
            .where(Episode.reference == JORDAN)
            .values(needs_confirmation=True, confirmation_reason="return from an unknown sender")
        )
    engine.dispose()
    code, out, err = run("episode", "confirm", JORDAN, "--by", "amy", "--note", "rang carer")
    assert code == 0, err
    data = run.json("episode", JORDAN, "--json")
    assert (data["needs_confirmation"], data["confirmation_reason"]) == (False, None)
    assert data["history"][-1]["note"] == "rang carer"


def test_split_one_episode_per_child_with_the_messages(run: CliRunner) -> None:
    kai = run.json("episode", KAI, "--json")
    assert refusal(run, "episode", "split", KAI, "--child", "100235") == (
        "mailbridge: error: a split needs two or more children (--child ID --child ID)"
    )
    code, out, err = run("episode", "split", KAI, "--child", "100235", "--child", "100236")
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"{KAI} split by ")
    listed = {e["reference"]: e for e in run.json("episodes", "--json")}
    assert len(listed) == 3
    new = next(e for r, e in listed.items() if r not in (JORDAN, KAI))
    assert (listed[KAI]["child_id"], new["child_id"]) == ("100235", "100236")
    assert new["message_ids"] == kai["message_ids"] == listed[KAI]["message_ids"]
    assert new["last_seen_at"] == kai["last_seen_at"]
    assert (
        "Amy Jones <amy.jones@council.example> (social worker) - missing " + new["reference"] in out
    )


def test_merge_the_later_into_the_earlier(run: CliRunner, database_url: str) -> None:
    code, _out, err = run("episode", "link", KAI, "--child", "100231")
    assert code == 0, err
    assert refusal(run, "episode", "merge", JORDAN, "--into", KAI) == (
        f"mailbridge: error: {JORDAN} began first and its reference survives: "
        f"merge {KAI} --into {JORDAN}"
    )
    code, out, err = run("episode", "merge", KAI, "--into", JORDAN, "--by", "amy")
    assert code == 0, err
    assert out.splitlines()[0] == f"{KAI} merged into {JORDAN} by amy"
    listed = {e["reference"]: e for e in run.json("episodes", "--json")}
    assert listed[KAI]["status"] == "void" and listed[KAI]["merged_into"] == JORDAN
    assert listed[KAI]["message_ids"] == []
    assert listed[JORDAN]["message_ids"] == [
        "form-missing-1@example.org",
        "oakwood-1@oakwood-house.example.co.uk",
    ]
    assert pending_timers(database_url, KAI) == []
    assert refusal(run, "episode", "reopen", KAI, "--reason", "x") == (
        f"mailbridge: error: {KAI} was merged into {JORDAN}: reopen that one"
    )


def test_the_real_command_voids_and_says_so(run: CliRunner, database_url: str) -> None:
    env = {
        "MAILBRIDGE_DATABASE_URL": database_url,
        "MAILBRIDGE_DATA_DIR": str(Path(run.base[1]).parent / "data"),
        "PATH": str(Path(sys.executable).parent),
    }
    args = [str(Path(sys.executable).parent / "mailbridge"), *run.base, "episode"]
    done = subprocess.run(
        [*args, "void", KAI, "--reason", "not one of ours", "--by", "duty"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"{KAI} void by duty: not one of ours"
    assert "Duty desk <duty@council.example> (duty) - void" in done.stdout
    again = subprocess.run(
        [*args, "void", KAI, "--reason", "again"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert again.returncode == 1
    assert again.stderr.strip() == f"mailbridge: error: {KAI} is already void (not one of ours)"


@pytest.mark.skipif(not PG_URL, reason="MAILBRIDGE_TEST_DATABASE_URL is not set")
def test_two_instances_on_one_episode_take_turns_on_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A holds the episode's row lock; B's return waits for it, then sees A's and refuses."""
    reset_postgres(PG_URL)
    runner = cli_runner(PG_URL, tmp_path, monkeypatch, capsys, RECEIVED.__getitem__)
    assert runner("db", "upgrade")[0] == 0
    assert runner("directory", "import", str(FIXTURES / "directory.csv"))[0] == 0
    assert runner("inject", str(REPORTS / "form_missing.eml"))[0] == 0
    settings = load_settings(
        runner.base[1],
        {"MAILBRIDGE_DATABASE_URL": PG_URL, "MAILBRIDGE_DATA_DIR": str(tmp_path / "data")},
    )
    first, second = db.make_engine(PG_URL), db.make_engine(PG_URL)
    at = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    outcome: dict[str, Any] = {}
    a_holds = threading.Event()

    def instance_b() -> None:
        a_holds.wait(30)
        started = time.monotonic()
        try:
            casework.returned(second, settings, JORDAN, at + timedelta(hours=1), by="B")
            outcome["b"] = "closed"
        except CaseworkRefused as exc:
            outcome["b"] = str(exc)
        outcome["b_waited"] = time.monotonic() - started

    b = threading.Thread(target=instance_b)
    b.start()
    with Session(first) as session, session.begin():
        result = casework.returned(session, settings, JORDAN, at, by="A")
        a_holds.set()
        time.sleep(1.5)  # B is now blocked on the row lock, not reading the old status
    b.join(60)
    first.dispose()
    second.dispose()
    assert result.summary.startswith(f"{JORDAN} closed at")
    assert outcome["b"].startswith(f"{JORDAN} is already returned")
    assert outcome["b_waited"] >= 1.0
    data = runner.json("episode", JORDAN, "--json")
    assert data["returned_by"] == "A"
    assert [h["who"] for h in data["history"]] == ["A", "A", "A"]
