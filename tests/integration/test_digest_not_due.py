"""`mailbridge digest` says why a period is not due, in words an operator can check."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.env import cli_runner, sample_report

RECEIVED = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)  # a Thursday


def test_each_period_says_why_it_is_not_due(database_url, tmp_path, monkeypatch, capsys):
    run = cli_runner(database_url, tmp_path, monkeypatch, capsys, lambda _stem: RECEIVED)
    assert run("db", "upgrade")[0] == 0
    code, out, err = run("digest", "--at", "2026-11-30T08:00")
    assert code == 0, err
    assert out.count("not due: no message has been received yet") == 2, out

    report = tmp_path / "report.eml"
    report.write_bytes(sample_report(1))
    assert run("inject", str(report))[0] == 0
    code, out, _ = run("digest", "--at", "2026-11-30T06:30")
    lines = {k: v.strip() for k, v in (x.split(" ", 1) for x in out.strip().splitlines())}
    assert lines["weekly"] == (
        "2026-11-23 to 2026-11-29  not due: it is sent from 2026-11-30 07:00 GMT "
        "(digest.send_hour)"
    )
    assert lines["monthly"].startswith("2026-10-01 to 2026-10-31  not due: the period ended")
    assert "before the first message (2026-11-26 21:30 GMT)" in lines["monthly"]
    data = run.json("digest", "--at", "2026-11-30T07:30", "--json")
    weekly, monthly = data["periods"]
    assert (weekly["due"], weekly["why_not_due"]) == (True, None)
    assert monthly["due"] is False and "first message" in monthly["why_not_due"]
