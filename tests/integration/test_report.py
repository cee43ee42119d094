"""The report's four formats, pseudonymisation, the `report` command and a real render."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailbridge.reports.report import CSV_COLUMNS, Report, build_report
from mailbridge.settings.config import Settings
from tests.support.env import CliRunner, SettingsFactory
from tests.support.report_data import END, EXPECTED, NAMES, NOW, START, seed

CHROMIUM = "/usr/bin/chromium"
CHILD_IDS = re.compile(r"\bC[1-5]\b")
ALL_NAMES = re.compile(r"\b(" + "|".join(n for pair in NAMES.values() for n in pair) + r")\b")
CHARTS = (
    "Episodes by hour of day",
    "Episodes per month",
    "Duration of returned episodes",
    "Reasons given in return home interviews",
    "Return home interviews by outcome and timeliness",
)


@pytest.fixture
def seeded(engine: Engine, make_settings: SettingsFactory) -> tuple[Engine, Settings]:
    seed(engine)
    return engine, make_settings()


def report(seeded: tuple[Engine, Settings], *, names: bool = False) -> Report:
    engine, settings = seeded
    return build_report(engine, settings, START, END, names=names, now=NOW)


def test_html_has_the_five_charts_and_no_child_identity(seeded: tuple[Engine, Settings]) -> None:
    html = report(seeded).html()
    assert html.startswith("<!DOCTYPE html>")
    for title in CHARTS:
        assert re.search(rf'<svg class="chart" role="img" aria-label="{title}', html), title
    assert html.count("<svg") == 5
    # Self-contained: no script, no stylesheet or image fetched from anywhere.
    assert not re.search(r"<script|<link|<img|src=|url\(", html)
    assert not CHILD_IDS.search(html), CHILD_IDS.search(html)
    assert not ALL_NAMES.search(html), ALL_NAMES.search(html)
    assert "Child 1" in html and "Child 3" in html
    # A few figures, as printed.
    assert "<title>Family contact: 3</title>" in html  # labelled from the reason codes
    assert "<title>&lt; 24 h: 3</title>" in html  # autoescaped
    assert "<title>2026-03: 6</title>" in html
    assert "<title>completed within 72 h: 2</title>" in html
    assert "Median duration: <strong>26.0 h</strong>" in html


def test_names_show_who_the_children_are(seeded: tuple[Engine, Settings]) -> None:
    r = report(seeded, names=True)
    html = r.html()
    assert "Amy Adams (C1)" in html and "Dan Drew (C4)" in html and "Ben Brown (C2)" in html
    assert "handle as special-category personal data" in html
    assert [c.label for c in r.figures.repeat_children] == [
        "Amy Adams (C1)",
        "Dan Drew (C4)",
        "Ben Brown (C2)",
    ]
    assert "Amy Adams (C1)" in r.csv()


def test_csv_json_and_summary_carry_the_figures(seeded: tuple[Engine, Settings]) -> None:
    r = report(seeded)
    rows = list(csv.reader(io.StringIO(r.csv())))
    assert tuple(rows[0]) == CSV_COLUMNS
    values = {(s, f): v for s, f, v in rows[1:]}
    assert len(values) == len(rows) - 1  # one row per figure, no figure twice
    assert values["episodes", "episodes"] == "10"
    assert values["episodes", "police_reference_pct"] == "40.0"
    assert values["children", "episodes_per_child"] == "1.8"
    assert values["duration", "median_hours"] == "26.0"
    assert values["hour", "23"] == "2"
    assert values["weekday", "Sun"] == "4"
    assert values["interviews", "completed_in_72h"] == "2"
    assert values["interviews", "completed_in_72h_pct_of_owed"] == "25.0"
    assert values["interviews", "completed_in_72h_pct_of_completed"] == "50.0"
    assert values["acknowledgement", "social_worker.p90_hours"] == "3.6"
    assert values["reasons", "family_contact"] == "3"
    assert values["failed_messages", "reprocessed_ignored"] == "1"
    assert values["repeat_children", "Child 1"] == "3"
    assert not CHILD_IDS.search(r.csv()) and not ALL_NAMES.search(r.csv())

    data = r.as_json()
    text = json.dumps(data)  # JSON-ready as it is
    assert not CHILD_IDS.search(text) and not ALL_NAMES.search(text)
    assert data["period"] == {
        "start": "2026-03-01",
        "end": "2026-04-30",
        "timezone": "Europe/London",
        "start_utc": "2026-03-01T00:00:00+00:00",
        "end_utc": "2026-04-30T23:00:00+00:00",
    }
    assert data["episodes"] == EXPECTED["episodes"]
    assert data["by_weekday"]["Thu"] == 3
    assert data["by_month"] == {"2026-03": 6, "2026-04": 4}
    assert data["reasons"][0] == {
        "code": "family_contact",
        "label": "Family contact",
        "interviews": 3,
    }
    assert data["interviews"]["by_status"]["completed"] == 4
    assert data["repeat_children"][0] == {
        "label": "Child 1",
        "episodes": 3,
        "child_id": None,
        "name": None,
    }

    lines = r.summary_text().splitlines()
    assert 5 <= len(lines) <= 10
    assert lines[0].startswith(
        "Missing episodes 01 Mar 2026 to 30 Apr 2026 (Europe/London): "
        "10 episode(s) of 5 child(ren) (1.8 per child)."
    )
    assert "2 within 72 h (25%)" in r.summary_text()
    assert not ALL_NAMES.search(r.summary_text())


def test_report_command(
    seeded: tuple[Engine, Settings],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", database_url)
    monkeypatch.setenv("MAILBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MAILBRIDGE_CONFIG", raising=False)
    config = tmp_path / "empty.toml"
    config.write_text("", encoding="utf-8")
    cli = CliRunner(config, capsys)
    period = ("--from", "2026-03-01", "--to", "2026-04-30")

    data = cli.json("report", *period, "--format", "json")
    assert data["episodes"] == 10 and data["names_shown"] is False

    code, out, _ = cli("report", *period)
    assert code == 0 and out.startswith("<!DOCTYPE html>") and "<svg" in out

    target = tmp_path / "r.csv"
    code, out, err = cli("report", *period, "--format", "csv", "--out", str(target), "--names")
    assert code == 0 and out == "" and str(target) in err
    assert "Amy Adams (C1)" in target.read_text(encoding="utf-8")

    code, _, err = cli("report", "--from", "2026-04-30", "--to", "2026-03-01")
    assert code == 1 and "--from 2026-04-30 is after --to 2026-03-01" in err
    code, _, err = cli("report", "--from", "2026-02-30", "--to", "2026-03-01")
    assert code == 1 and "--from: not a date: '2026-02-30'" in err
    code, _, err = cli("report", *period, "--out", str(tmp_path / "no" / "such" / "dir.html"))
    assert code == 1 and "--out" in err and "Traceback" not in err


def test_the_report_renders_in_a_browser(
    seeded: tuple[Engine, Settings], database_url: str, tmp_path: Path
) -> None:
    """Headless Chromium draws the page: a real image, with ink and the charts' colour in it."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"chromium not installed ({CHROMIUM}); apt-get install chromium")
    if not database_url.startswith("sqlite"):
        pytest.skip("the page does not depend on the database; rendered once, on SQLite")
    from PIL import Image

    page = tmp_path / "report.html"
    page.write_text(report(seeded).html(), encoding="utf-8")
    shot = tmp_path / "report.png"
    width, height = 900, 3600
    subprocess.run(
        [
            CHROMIUM if Path(CHROMIUM).exists() else "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            f"--window-size={width},{height}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with Image.open(shot) as img:
        img.verify()
    with Image.open(shot) as img:
        assert img.format == "PNG" and img.size == (width, height)
        grey = img.convert("L")
        histogram = grey.histogram()
        ink = sum(histogram[:200]) / (width * height)
        assert 0.01 < ink < 0.5, f"{ink:.3f} of the page is ink"
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20) or []
        assert any(rgb == (0x4A, 0x6F, 0xA5) for _, rgb in colours), "no chart bars drawn"


def test_csv_cells_a_spreadsheet_would_run_are_quoted() -> None:
    from mailbridge.reports.report import _cell

    for formula in ("=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx"):
        assert _cell(formula) == "'" + formula
    assert _cell("Oak House") == "Oak House"
    assert _cell(-3) == -3 and _cell(2.5) == 2.5
