"""Junk at the duty desk: non-reports from unknown senders go to the triage list and one summary
per window; a known carer's or staff member's non-report is still forwarded at once.

Run as an operator would: `mailbridge inject`, `messages --triage`, `due --run`, both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailbridge.runtime.triage import window_start
from tests.support.env import alert_rows, cli_runner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECEIVED = datetime(2026, 11, 26, 21, 4, tzinfo=UTC)


def chatter(n: int, sender: str, subject: str = "Cheap watches") -> bytes:
    return (
        f"From: {sender}\r\nTo: missing@council.example\r\nSubject: {subject} {n}\r\n"
        f"Date: Thu, 26 Nov 2026 21:0{n % 10}:00 +0000\r\nMessage-ID: <chatter-{n}@x.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hello, thanks for the training yesterday. Could you send the slides?\r\n"
    ).encode()


def test_unknown_senders_are_summarised_known_ones_forwarded(
    database_url, tmp_path, monkeypatch, capsys
):
    run = cli_runner(database_url, tmp_path, monkeypatch, capsys, lambda _stem: RECEIVED)
    assert run("db", "upgrade")[0] == 0
    assert run("directory", "import", str(FIXTURES / "directory.csv"))[0] == 0
    files = []
    for n in range(12):  # a spam run
        path = tmp_path / f"spam{n}.eml"
        path.write_bytes(chatter(n, f"offers{n}@spam.example"))
        files.append(str(path))
    carer = tmp_path / "carer.eml"
    carer.write_bytes(chatter(20, "Oakview <oakview@homes.example>", "Training"))
    staff = tmp_path / "staff.eml"
    staff.write_bytes(chatter(21, "Sam Patel <sam.patel@council.example>", "Rota"))
    code, out, err = run("inject", *files, str(carer), str(staff))
    assert code == 0, err
    assert "stored 14 message(s)" in out

    # The carer's and the staff member's go to the duty desk at once, each on its own.
    forwarded = alert_rows(database_url, "not_a_report")
    assert len({a.inbound_id for a in forwarded}) == 2
    assert all(a.role in ("duty", "apprentice") for a in forwarded)
    # The spam is stored, listed and on the triage list; nobody is alerted for it yet.
    listed = run.json("messages", "--triage", "--json")
    assert len(listed) == 12
    assert all(m["status"] == "ignored" and m["triage"] for m in listed)
    assert all(m["reason"].startswith("triage: not a report") for m in listed)
    everything = run.json("messages", "--json")
    assert len(everything) == 14 and sum(m["triage"] for m in everything) == 12
    assert alert_rows(database_url, "triage_summary") == []

    # Within the hour, nothing is due; once it has ended, one summary for the duty desk.
    assert run("due", "--run", "--at", "2026-11-26T21:30:00+00:00")[0] == 0
    assert alert_rows(database_url, "triage_summary") == []
    assert run("due", "--run", "--at", "2026-11-26T22:01:00+00:00")[0] == 0
    (summary,) = alert_rows(database_url, "triage_summary")
    assert summary.role == "duty"
    assert summary.subject == (
        "TRIAGE: 12 messages that are not reports (26 Nov 2026 21:00-22:00 GMT)"
    )
    for m in listed:
        assert f"message {m['id']}, 21:04, from offers" in summary.body_text
    assert "Cheap watches 11" in summary.body_text
    assert "mailbridge messages --triage" in summary.body_text
    # Later ticks, or a second instance, send no second summary for the same hour.
    assert run("due", "--run", "--at", "2026-11-26T22:30:00+00:00")[0] == 0
    assert len(alert_rows(database_url, "triage_summary")) == 1


def test_windows_are_the_configured_length():
    at = datetime(2026, 11, 26, 21, 47, 12, tzinfo=UTC)
    assert window_start(at, 60) == datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
    assert window_start(at, 15) == datetime(2026, 11, 26, 21, 45, tzinfo=UTC)
    assert window_start(at, 24 * 60) == datetime(2026, 11, 26, tzinfo=UTC)
    assert window_start(at + timedelta(minutes=13), 60) == datetime(2026, 11, 26, 22, 0, tzinfo=UTC)


def test_summary_off_means_an_alert_each(database_url, tmp_path, monkeypatch, capsys):
    run = cli_runner(database_url, tmp_path, monkeypatch, capsys, lambda _stem: RECEIVED)
    (tmp_path / "mailbridge.toml").write_text("[processing]\ntriage_summary_minutes = 0\n")
    assert run("db", "upgrade")[0] == 0
    path = tmp_path / "spam.eml"
    path.write_bytes(chatter(1, "offers@spam.example"))
    assert run("inject", str(path))[0] == 0
    assert {a.role for a in alert_rows(database_url, "not_a_report")} >= {"duty"}
    assert run.json("messages", "--triage", "--json") == []
