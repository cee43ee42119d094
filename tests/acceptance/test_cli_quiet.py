"""`inject` and `reprocess`, run as the real command, end with their summary: no INFO log lines
trail it (serve keeps logging at service.log_level)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.env import sample_report


def mailbridge(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "mailbridge.toml"
    if not config.exists():
        config.write_text("", encoding="utf-8")
    env = {
        **os.environ,
        "MAILBRIDGE_DATABASE_URL": database_url,
        "MAILBRIDGE_DATA_DIR": str(tmp_path / "data"),
        "MAILBRIDGE_ADDRESSES": "missing@council.example",
    }
    env.pop("MAILBRIDGE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "mailbridge", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_inject_and_reprocess_end_with_their_summary(engine, database_url, tmp_path):
    report = tmp_path / "report.eml"
    report.write_bytes(sample_report(1))
    done = mailbridge(tmp_path, database_url, "inject", str(report))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("alerts: ")
    assert " INFO " not in done.stderr, done.stderr
    again = mailbridge(tmp_path, database_url, "reprocess", "1")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1].startswith("alerts: ")
    assert " INFO " not in again.stderr, again.stderr
    # Asked for, the INFO lines are there.
    loud = mailbridge(tmp_path, database_url, "--log-level", "INFO", "reprocess", "1")
    assert " INFO " in loud.stderr, loud.stderr
