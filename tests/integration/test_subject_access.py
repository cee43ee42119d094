"""Subject access: finding a child by what a requester knows, and the export's contents.

The records are made by the real pipeline (tests/support/retention_world.py's build: two
children's episodes, a return, an interview outcome, a not-a-report), then read through the CLI.
"""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.cli import main
from mailbridge.directory import csv_file
from mailbridge.reports import retention
from mailbridge.reports.subject_access import search
from mailbridge.store import directory
from mailbridge.store.models import AuditEntry, Episode
from tests.support.retention_world import CUTOFF, NOW, World, build
from tests.support.story import FIXTURES, T0, Story


@pytest.fixture
def story(engine: Any, make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> Story:
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=T0, actor="test")
    st = Story(engine, make_settings())
    # The CLI reads the same store.
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", st.settings.database_url)
    monkeypatch.setenv("MAILBRIDGE_DATA_DIR", str(st.settings.data_dir))
    return st


def cli(story: Story, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", story.settings.source, *args])
    out, err = capsys.readouterr()
    return code, out, err


def ids(story: Story, term: str) -> dict[str | None, list[str]]:
    with Session(story.engine) as s:
        return {m.child_id: m.matched_by for m in search(s, term)}


def test_search_by_each_key_then_export(
    story: Story, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world = build(story, recent=False)
    assert ids(story, "100231") == {"100231": ["child_id"]}
    assert ids(story, "chloe") == {"100232": ["name"]}  # Chloé: accents ignored
    assert ids(story, "DUBO") == {"100232": ["name"]}  # partial, any case
    assert ids(story, "jordan carter") == {"100231": ["name"]}
    assert set(ids(story, "alex")) == {"100240", "100241"}
    assert ids(story, "14/03/2011") == ids(story, "2011-03-14") == {"100231": ["date_of_birth"]}
    assert ids(story, "Riverside.Carers@fostering.example") == {
        "100232": ["carer_email"],
        "100250": ["carer_email"],
    }
    with Session(story.engine) as s:
        police = s.scalar(select(Episode.police_reference).where(Episode.reference == world.old))
    assert police and "1123" in police
    assert ids(story, police) == {"100231": ["police_reference"]}
    assert ids(story, "no such person") == {}

    code, out, _ = cli(story, capsys, "subject-access", "search", "chloé", "--json")
    (found,) = json.loads(out)
    assert code == 0
    assert found == {
        "child_id": "100232",
        "name": "Chloé Dubois",
        "date_of_birth": "2009-07-02",
        "matched_by": ["name"],
        "episodes": [world.open],
    }
    code, out, _ = cli(story, capsys, "subject-access", "search", "100231")
    assert code == 0 and "Jordan Carter" in out and world.old in out and "2011-03-14" in out
    assert cli(story, capsys, "subject-access", "search", "zzzz")[1].strip() == "no match"
    check_export(story, capsys, tmp_path, world)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def check_export(
    story: Story, capsys: pytest.CaptureFixture[str], tmp_path: Path, world: World
) -> None:
    """Everything about the child is in the zip, and nobody else's data."""
    out = tmp_path / "sar-100231.zip"
    code, text, err = cli(
        story,
        capsys,
        "subject-access",
        "export",
        "100231",
        "--out",
        str(out),
        "--requested-by",
        "DPO ticket 42",
    )
    assert code == 0, err
    assert "special-category" in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    files = members(out)
    assert "SPECIAL-CATEGORY" in files["README.txt"].decode()
    index = json.loads(files["index.json"])
    assert index["child_id"] == "100231" and index["requested_by"] == "DPO ticket 42"
    assert index["episodes"] == [world.old]
    child = json.loads(files["child.json"])
    assert (child["first_name"], child["date_of_birth"]) == ("Jordan", "2011-03-14")
    assert child["allocation_history"] and "oakview@homes.example" in child["carer_emails"]
    episode = json.loads(files[f"episodes/{world.old}.json"])
    assert episode["child_id"] == "100231" and episode["status"] == "returned"
    assert "fox badge" in (episode["description"] or "") + (episode["clothing"] or "")
    assert episode["interview"]["risks"] == "older peers at the station"
    assert {a["kind"] for a in episode["due_actions"]} >= {"interview_reminder"}
    messages = json.loads(files["messages.json"])
    # The report, the return and the interview outcome: every raw copy is in the zip.
    assert len(messages) == 3
    for m in messages:
        assert m["file"] and files[m["file"]].startswith(b"From:")
    assert b"Brought back by his aunt" in b"".join(files[m["file"]] for m in messages)
    alerts = json.loads(files["alerts.json"])
    assert alerts and {a["episode"] for a in alerts} == {world.old}
    assert any(a["event"] == "interview_reminder" for a in alerts)
    audit = json.loads(files["audit.json"])
    assert {(a["entity"], a["action"]) for a in audit} >= {
        ("episode", "missing"),
        ("episode", "returned"),
        ("message", "received"),
    }
    everything = b"".join(files.values()).decode("utf-8", "replace")
    for other in ("Dubois", "100232", "riverside", "Opening hours"):
        assert other not in everything, f"another person's data in the export: {other}"

    with Session(story.engine) as s:
        (line,) = s.scalars(select(AuditEntry).where(AuditEntry.entity == "subject_access"))
    assert (line.entity_id, line.action, line.actor) == ("100231", "export", "DPO ticket 42")
    assert line.detail == {"file": out.name, "counts": index["counts"]}

    code, _, err = cli(
        story, capsys, "subject-access", "export", "100231", "--out", str(out),
        "--requested-by", "x",
    )  # fmt: skip
    assert code == 1 and "already exists" in err
    code, _, err = cli(
        story, capsys, "subject-access", "export", "999999", "--out", str(tmp_path / "n.zip"),
        "--requested-by", "x",
    )  # fmt: skip
    assert code == 1 and "no child" in err and not (tmp_path / "n.zip").exists()

    # After retention, the export says what was purged and holds no raw copy.
    retention.purge(story.engine, cutoff=CUTOFF, now=NOW)
    later = tmp_path / "later.zip"
    code, _, err = cli(
        story, capsys, "subject-access", "export", "100231", "--out", str(later),
        "--requested-by", "DPO ticket 43",
    )  # fmt: skip
    assert code == 0, err
    files = members(later)
    assert not [n for n in files if n.endswith(".eml")]
    assert all(m["file"] is None and m["purged_at"] for m in json.loads(files["messages.json"]))
    episode = json.loads(files[f"episodes/{world.old}.json"])
    assert episode["purged_at"] and episode["clothing"] is None
    # The earlier export is itself in the trail.
    assert any(a["entity"] == "subject_access" for a in json.loads(files["audit.json"]))
