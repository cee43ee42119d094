"""`mailbridge status [--json]` and `mailbridge --version`, as an operator runs them."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pytest

from mailbridge.cli import main
from tests.support.env import cli_runner, sample_report

RECEIVED = datetime(2025, 11, 26, 21, 30, tzinfo=UTC)  # in the past: alerts are due


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"mailbridge {version('mailbridge')}"


def test_status_json_after_a_report(database_url, tmp_path, monkeypatch, capsys):
    run = cli_runner(database_url, tmp_path, monkeypatch, capsys, lambda _stem: RECEIVED)
    assert run("db", "upgrade")[0] == 0
    empty = run.json("status", "--json")
    assert empty["queues"] == {
        "pending_messages": 0,
        "failed_messages": 0,
        "queued_alerts": 0,
        "failed_alerts": 0,
        "pending_due_actions": 0,
    }
    assert empty["last_message"] is None
    assert empty["oldest_undelivered_alert"] is None

    report = tmp_path / "report.eml"
    report.write_bytes(sample_report(1))
    code, _out, err = run("inject", "--no-process", str(report))
    assert code == 0, err
    data = run.json("status", "--json")
    assert data["queues"]["pending_messages"] == 1
    assert data["last_message"] == {"received_at": RECEIVED.isoformat(), "source": "inject"}

    code, out, err = run("status")
    assert code == 0, err
    assert "messages: 1 pending, 0 failed" in out
    assert "by inject" in out
    assert "carer@homes.example" not in out

    code, _out, err = run("inject", str(report))  # a duplicate; the pending one is processed
    assert code == 0, err
    after = run.json("status", "--json")
    assert after["queues"]["pending_messages"] == 0
    assert after["queues"]["queued_alerts"] == 0  # delivered to the outbox by inject
    assert after["queues"]["pending_due_actions"] >= 1  # the open episode's escalations


def test_status_on_an_unreachable_database_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    config = Path(tmp_path / "mailbridge.toml")
    config.write_text("")
    code = main(["--config", str(config), "status"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("mailbridge: error: cannot reach the database")
    assert "Traceback" not in err
