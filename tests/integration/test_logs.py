"""Log lines: plain or JSON, the message and episode in hand on each, levels per logger."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailbridge.errors import ConfigError
from mailbridge.ops import logs
from mailbridge.settings.config import load_settings
from tests.support.env import sample_report


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Our handler on the root logger for one test, then everything as it was."""
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    touched = ["mailbridge", "mailbridge.ingress.imap", "mailbridge.runtime.worker", *logs.NOISY]
    levels = {name: logging.getLogger(name).level for name in touched}
    buf = io.StringIO()
    yield buf
    for handler in list(root.handlers):
        if handler not in before[0]:
            root.removeHandler(handler)
    root.setLevel(before[1])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_plain_lines_name_the_message_and_episode(captured):
    logs.setup_logging("INFO", "plain", stream=captured, force=True)
    log = logging.getLogger("mailbridge.runtime.worker")
    log.info("outside")
    with logs.log_context(message_id=12):
        log.info("claimed")
        logs.set_episode("MB-2026-00001")
        log.info("processed")
    log.info("after")
    lines = captured.getvalue().splitlines()
    assert lines[0].endswith("INFO mailbridge.runtime.worker: outside")
    assert lines[1].endswith("INFO mailbridge.runtime.worker [msg 12]: claimed")
    assert lines[2].endswith("INFO mailbridge.runtime.worker [msg 12 MB-2026-00001]: processed")
    assert lines[3].endswith("INFO mailbridge.runtime.worker: after")  # the context was undone


def test_json_lines_parse_and_carry_the_ids(captured):
    logs.setup_logging("INFO", "json", stream=captured, force=True)
    log = logging.getLogger("mailbridge.delivery.sender")
    with logs.log_context(message_id=7, episode="MB-2026-00002"):
        log.warning("alert id=%s status=queued", 3)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("pass failed")
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert first["message"] == "alert id=3 status=queued"
    assert first["level"] == "WARNING" and first["logger"] == "mailbridge.delivery.sender"
    assert first["message_id"] == 7 and first["episode"] == "MB-2026-00002"
    assert first["time"].endswith("+00:00")
    assert "context" not in first
    assert second["message_id"] is None and second["episode"] is None
    assert "ValueError: boom" in second["exc_info"]


def test_levels_per_logger(captured):
    levels, problems = logs.parse_levels(["mailbridge.ingress.imap=debug", "aiosmtpd=INFO"])
    assert problems == []
    logs.setup_logging("INFO", "plain", levels, stream=captured, force=True)
    logging.getLogger("mailbridge.ingress.imap").debug("imap detail")
    logging.getLogger("mailbridge.runtime.worker").debug("worker detail")
    logging.getLogger("aiosmtpd").info("session chatter")
    logging.getLogger("alembic").info("held at WARNING")
    text = captured.getvalue()
    assert "imap detail" in text
    assert "worker detail" not in text
    assert "session chatter" in text  # the operator asked for it
    assert "held at WARNING" not in text


def test_bad_levels_are_named_by_key(tmp_path):
    config = tmp_path / "mailbridge.toml"
    config.write_text(
        '[service]\nlog_format = "xml"\nlog_levels = ["mailbridge=LOUD", "no-equals"]\n'
    )
    with pytest.raises(ConfigError) as err:
        load_settings(str(config), {})
    text = str(err.value)
    assert "service.log_format: must be plain or json" in text
    assert "service.log_levels: 'mailbridge=LOUD'" in text
    assert "service.log_levels: 'no-equals' is not LOGGER=LEVEL" in text


def test_inject_logs_json_with_message_and_episode(engine, database_url, tmp_path):
    """The real command in its own process: every line parses, and the worker's and the
    sender's lines name the stored message and the episode it opened (``engine``: the schema
    is at head)."""
    report = tmp_path / "report.eml"
    report.write_bytes(sample_report(1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    env.update(
        MAILBRIDGE_DATABASE_URL=database_url,
        MAILBRIDGE_DATA_DIR=str(tmp_path / "data"),
        MAILBRIDGE_ADDRESSES="missing@council.example",
    )
    config = tmp_path / "mailbridge.toml"
    config.write_text('[service]\nlog_levels = ["mailbridge.runtime.worker=DEBUG"]\n')
    base = [sys.executable, "-m", "mailbridge", "--config", str(config)]
    done = subprocess.run(
        # One-shot commands log warnings only unless asked: ask for INFO.
        [*base, "--log-format", "json", "--log-level", "INFO", "inject", str(report)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    received = [r for r in lines if r["message"].startswith("received id=")]
    processed = [r for r in lines if r["message"].startswith("processed id=")]
    sent = [r for r in lines if "status=written" in r["message"]]  # no relay: files
    assert len(received) == 1 and len(processed) == 1 and len(sent) >= 2
    message_id = received[0]["message_id"]
    assert isinstance(message_id, int)
    assert processed[0]["message_id"] == message_id
    episode = processed[0]["episode"]
    assert episode and episode.startswith("MB-")
    assert all(r["message_id"] == message_id and r["episode"] == episode for r in sent)
    # Never who the report is about, nor who sent it.
    assert "Jordan" not in done.stderr and "carer@homes.example" not in done.stderr
