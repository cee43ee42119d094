"""`mailbridge routes test` for every shipped rule, against config/routing.yaml and the fixture
directory; and `check-config` on the routing file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mailbridge.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "routing.yaml"
DIRECTORY = ROOT / "tests" / "fixtures" / "directory.csv"

OFFICE = "2026-11-26T10:00"  # a Thursday
NIGHT = "2026-11-28T23:00"  # a Saturday night
BANK_HOLIDAY_NOON = "2026-12-25T12:00"  # Christmas Day, a Friday

SAM = ("social_worker", "sam.patel@council.example", "episode")
RUTH = ("iro", "ruth.okafor@council.example", "episode")
APPRENTICE = ("apprentice", "apprentice@council.example", "episode")
TM_NORTH = ("team_manager", "tm.north@council.example", "high-risk")
EDT = ("edt", "edt@council.example", "out-of-hours")
TRIAGE = [
    ("duty", "duty@council.example", "triage"),
    ("apprentice", "apprentice@council.example", "triage"),
]


@pytest.fixture
def config(tmp_path, monkeypatch) -> str:
    """The shipped rules, a fresh SQLite store, and the fixture directory imported."""
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'mb.db'}")
    monkeypatch.setenv("MAILBRIDGE_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "mailbridge.toml"
    path.write_text(f'[routing]\nfile = "{SHIPPED.as_posix()}"\n', encoding="utf-8")
    assert main(["--config", str(path), "directory", "import", str(DIRECTORY)]) == 0
    return str(path)


def run(capsys, config: str, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["--config", config, "routes", "test", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def routed(capsys, config: str, *args: str) -> dict[str, Any]:
    rc, out, err = run(capsys, config, *args, "--json")
    assert rc == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def who(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r["role"], r["address"], r["rule"]) for r in data["recipients"]]


@pytest.mark.parametrize("event", ["missing", "update", "returned"])
def test_episode_events_in_office_hours_alert_social_worker_iro_and_apprentice(
    capsys, config, event
):
    data = routed(capsys, config, "--event", event, "--child", "100231", "--at", OFFICE)
    assert who(data) == [SAM, RUTH, APPRENTICE]
    assert data["matched"] == ["episode"]
    assert data["hours"] == "office"
    assert data["sender_known"] is True
    assert data["recipients"][0]["name"] == "Sam Patel"


def test_high_risk_adds_the_team_manager(capsys, config):
    data = routed(
        capsys, config, "--event", "missing", "--child", "100231", "--risk", "high", "--at", OFFICE
    )
    assert who(data) == [SAM, RUTH, APPRENTICE, TM_NORTH]
    assert data["matched"] == ["episode", "high-risk"]
    for risk in ("medium", "low"):
        data = routed(
            capsys, config, "--event", "update", "--child", "100231", "--risk", risk, "--at", OFFICE
        )
        assert who(data) == [SAM, RUTH, APPRENTICE]


@pytest.mark.parametrize("at", [NIGHT, BANK_HOLIDAY_NOON, "2026-11-26T17:00", "2026-11-26T08:59"])
def test_out_of_hours_adds_the_edt(capsys, config, at):
    data = routed(capsys, config, "--event", "missing", "--child", "100231", "--at", at)
    assert who(data) == [SAM, RUTH, APPRENTICE, EDT]
    assert data["hours"] == "out_of_hours"
    assert data["matched"] == ["episode", "out-of-hours"]


def test_high_risk_out_of_hours_reaches_every_staff_role(capsys, config):
    data = routed(
        capsys, config, "--event", "returned", "--child", "100231", "--risk", "high", "--at", NIGHT
    )
    assert who(data) == [SAM, RUTH, APPRENTICE, TM_NORTH, EDT]


def test_naive_times_are_read_in_the_routing_zone_and_offsets_are_kept(capsys, config):
    # 1 July is BST: 08:30 in London is before office hours, 08:30 UTC is 09:30 in London.
    naive = routed(
        capsys, config, "--event", "missing", "--child", "100231", "--at", "2026-07-01T08:30"
    )
    assert naive["hours"] == "out_of_hours"
    assert naive["at"] == "2026-07-01T08:30:00+01:00"
    utc = routed(
        capsys, config, "--event", "missing", "--child", "100231", "--at", "2026-07-01T08:30Z"
    )
    assert utc["hours"] == "office"
    assert utc["at"] == "2026-07-01T09:30:00+01:00"


@pytest.mark.parametrize("event", ["unmatched", "not_a_report", "failed"])
def test_triage_events_go_to_duty_and_the_apprentice(capsys, config, event):
    data = routed(capsys, config, "--event", event, "--at", OFFICE)
    assert who(data) == TRIAGE
    assert data["child_id"] is None
    assert data["sender_known"] is False


@pytest.mark.parametrize(
    ("event", "edt"), [("unmatched", True), ("failed", True), ("not_a_report", False)]
)
def test_triage_out_of_hours_tells_the_edt_of_possible_reports(capsys, config, event, edt):
    data = routed(capsys, config, "--event", event, "--at", NIGHT)
    assert who(data) == ([*TRIAGE, EDT] if edt else TRIAGE)


def test_child_without_an_iro_alerts_duty_with_a_note(capsys, config):
    rc, out, err = run(capsys, config, "--event", "missing", "--child", "100233", "--at", OFFICE)
    assert rc == 0, err
    assert "duty" in out and "duty@council.example" in out
    assert "(no iro on record for child 100233)" in out
    data = routed(capsys, config, "--event", "missing", "--child", "100233", "--at", OFFICE)
    assert who(data) == [
        ("social_worker", "daniel.reid@council.example", "episode"),
        ("duty", "duty@council.example", "episode"),
        APPRENTICE,
    ]
    assert data["recipients"][1]["note"] == "no iro on record for child 100233"


def test_text_output_names_recipient_role_and_rule(capsys, config):
    rc, out, _ = run(
        capsys, config, "--event", "missing", "--child", "100231", "--risk", "high", "--at", NIGHT
    )
    assert rc == 0
    assert "Sat 2026-11-28 23:00 GMT" in out and "out of hours" in out
    lines = out.splitlines()
    assert any(
        line.split()[:4] == ["social_worker", "Sam", "Patel", "<sam.patel@council.example>"]
        and line.endswith("rule episode")
        for line in lines
    )
    assert any("team_manager" in line and "rule high-risk" in line for line in lines)
    assert any("Emergency Duty Team <edt@council.example>" in line for line in lines)
    assert "Jordan" not in out and "Carter" not in out  # no child's name in the output


def test_sender_flags(capsys, config):
    data = routed(
        capsys,
        config,
        "--event",
        "missing",
        "--child",
        "100231",
        "--sender-unknown",
        "--at",
        OFFICE,
    )
    assert data["sender_known"] is False
    data = routed(capsys, config, "--event", "unmatched", "--sender-known", "--at", OFFICE)
    assert data["sender_known"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--event", "missing", "--child", "999999"], "no child with id '999999'"),
        (["--event", "missing"], "--child is needed for a missing event"),
        (["--event", "mising", "--child", "100231"], "unknown event 'mising'"),
        (["--event", "missing", "--child", "100231", "--at", "tonight"], "--at: not an ISO time"),
    ],
)
def test_clear_errors(capsys, config, args, message):
    rc, out, err = run(capsys, config, *args)
    assert rc == 1
    assert message in err
    assert "Traceback" not in err and out == ""


def test_catch_all_and_declared_events_with_a_custom_file(capsys, tmp_path, monkeypatch, config):
    rules = tmp_path / "routing.yaml"
    rules.write_text(
        SHIPPED.read_text(encoding="utf-8").replace("events: []", "events: [escalation_2h]"),
        encoding="utf-8",
    )
    toml = tmp_path / "custom.toml"
    toml.write_text(f'[routing]\nfile = "{rules.as_posix()}"\n', encoding="utf-8")
    data = routed(
        capsys, str(toml), "--event", "escalation_2h", "--child", "100231", "--at", OFFICE
    )
    assert who(data) == [("duty", "duty@council.example", "default")]
    assert "catch-all" in data["recipients"][0]["note"]


def test_packaged_rules_are_used_when_none_is_named(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config/ here: the packaged copies are read
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'mb.db'}")
    monkeypatch.setenv("MAILBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MAILBRIDGE_CONFIG", raising=False)
    assert main(["routes", "test", "--event", "failed", "--at", OFFICE, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["routing_file"].endswith("routing.yaml")
    assert who(data) == TRIAGE


# -- check-config ---------------------------------------------------------------------


def test_check_config_reports_the_routing_file(capsys, config):
    assert main(["--config", config, "check-config"]) == 0
    out = capsys.readouterr().out
    assert f"routing:  {SHIPPED.as_posix()} (5 rule(s)" in out


def test_check_config_rejects_a_broken_routing_file_naming_the_key(capsys, tmp_path):
    rules = tmp_path / "routing.yaml"
    rules.write_text(
        SHIPPED.read_text(encoding="utf-8")
        .replace("risk: [high]", "risk: [extreme]")
        .replace("notify: [duty, apprentice]", "notify: [duty, apprentise]"),
        encoding="utf-8",
    )
    toml = tmp_path / "mb.toml"
    toml.write_text(f'[routing]\nfile = "{rules.as_posix()}"\n', encoding="utf-8")
    assert main(["--config", str(toml), "check-config"]) == 2
    captured = capsys.readouterr()
    assert "configuration OK" not in captured.out
    assert "routes[0].routes[0].match.risk: unknown level 'extreme'" in captured.err
    assert "routes[2].notify[1]: unknown role 'apprentise'" in captured.err
    assert str(rules) in captured.err
    assert "Traceback" not in captured.err


def test_check_config_names_a_missing_routing_file(capsys, tmp_path):
    toml = tmp_path / "mb.toml"
    toml.write_text(f'[routing]\nfile = "{(tmp_path / "nope.yaml").as_posix()}"\n')
    assert main(["--config", str(toml), "check-config"]) == 2
    assert "routing.file:" in capsys.readouterr().err


def test_routes_test_refuses_a_broken_routing_file(capsys, tmp_path):
    rules = tmp_path / "routing.yaml"
    rules.write_text("roles: {}\n", encoding="utf-8")
    toml = tmp_path / "mb.toml"
    toml.write_text(f'[routing]\nfile = "{rules.as_posix()}"\n', encoding="utf-8")
    assert main(["--config", str(toml), "routes", "test", "--event", "failed"]) == 1
    assert "roles.duty: required" in capsys.readouterr().err
