"""What an operator is shown is what a real run prints: docs/deploy.md's `mailbridge status`
sample, and the warning a command gives when the store's `serve` has a relay and it has none.

Each runs a real `mailbridge serve` process, a real SMTP client (smtplib) and the CLI in its own
process, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailbridge.store import db
from tests.support.e2e import wait_until_nothing_pending
from tests.support.env import sample_report
from tests.support.relay import Sink
from tests.support.serve import ADDRESS, FAST_TOML, Serve, fetch

ROOT = Path(__file__).resolve().parents[2]
SENDER = "carer@homes.example"
# The doc's block is the run's output with only these hidden: a local date and time with its
# zone, and an age ("4 min", "12 s").
_WHEN = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [A-Z]{2,5}")
_AGE = re.compile(r"\(\d+(?:\.\d)? (?:s|min|h) ago\)")


def normalise(line: str) -> str:
    return _AGE.sub("(AGE ago)", _WHEN.sub("DATE TIME ZONE", line))


def deploy_status_sample() -> list[str]:
    """The lines of the block after 'mailbridge status --json` is for scripts:'."""
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    found = re.search(r"`mailbridge status --json` is for scripts:\n\n```\n(.*?)\n```", text, re.S)
    assert found, "docs/deploy.md has lost its `mailbridge status` sample"
    return found.group(1).splitlines()


@pytest.fixture
def servers() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for s in started:
        s.cleanup()


@pytest.fixture
def store_url(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        engine = db.make_engine(database_url)
        try:
            db.upgrade(engine)
        finally:
            engine.dispose()
    return database_url


def _wait_delivered(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not fetch(url, "SELECT count(*) FROM alerts WHERE status IN ('queued', 'sending')")[0][
            0
        ]:
            return
        time.sleep(0.25)
    pytest.fail("alerts still queued")


def test_the_deploy_guide_status_sample_is_what_status_prints(
    store_url: str, tmp_path: Path, servers: list[Serve]
) -> None:
    """The sample's story: three reports, one to a misspelt address of ours (550) and one too
    big (552), each by a client that says EHLO and QUIT."""
    toml = FAST_TOML + "max_message_size = 20000\n"
    server = Serve(tmp_path, store_url, toml=toml)
    servers.append(server)
    server.start(wait=False)  # not by connecting: a probe's session would be counted too
    deadline = time.monotonic() + 60
    while "listening on" not in server.stderr():
        assert server.proc is not None and server.proc.poll() is None, server.stderr()
        assert time.monotonic() < deadline, "serve never listened"
        time.sleep(0.1)
    for n in (1, 2, 3):
        with smtplib.SMTP("127.0.0.1", server.port, timeout=15) as c:
            c.sendmail(SENDER, [ADDRESS], sample_report(n))
    with smtplib.SMTP("127.0.0.1", server.port, timeout=15) as c:
        c.ehlo()
        c.mail(SENDER)
        assert c.rcpt("misssing@council.example")[0] == 550
    with smtplib.SMTP("127.0.0.1", server.port, timeout=15) as c:
        c.ehlo()
        c.mail(SENDER)
        c.rcpt(ADDRESS)
        assert c.data(sample_report(4) + b"x" * 30000)[0] == 552
    wait_until_nothing_pending(store_url)
    _wait_delivered(store_url)
    assert server.stop() == 0  # the last reply counts are stored as it stops

    done = server.run("status")
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert [normalise(x) for x in printed] == [normalise(x) for x in deploy_status_sample()]
    # and the figures under it, which the sample states exactly
    data = json.loads(server.run("status", "--json").stdout)
    assert data["queues"]["pending_messages"] == data["queues"]["queued_alerts"] == 0


def test_the_status_sample_check_hides_only_times_and_ages() -> None:
    assert normalise("last message: 2026-11-26 21:30:02 GMT by smtp (4 min ago)") == (
        "last message: DATE TIME ZONE by smtp (AGE ago)"
    )
    assert normalise("smtp replies (24 h): 250 x17") == "smtp replies (24 h): 250 x17"
    assert normalise("timers:   3 pending") != normalise("timers:   4 pending")


def test_a_command_without_the_relay_serve_has_warns_and_its_alerts_say_written(
    store_url: str, tmp_path: Path, servers: list[Serve]
) -> None:
    sink = Sink().start()
    try:
        server = Serve(tmp_path, store_url, env={"relay_url": sink.url})
        servers.append(server)
        server.start()
        with smtplib.SMTP("127.0.0.1", server.port, timeout=15) as c:
            c.sendmail(SENDER, [ADDRESS], sample_report(1))
        wait_until_nothing_pending(store_url)
        _wait_delivered(store_url)
        assert server.stop() == 0
        by_serve = len(sink.messages())
        assert by_serve >= 1
    finally:
        sink.stop()

    # Later, `inject` with the same store and config but no MAILBRIDGE_RELAY_URL.
    report = tmp_path / "later.eml"
    report.write_bytes(sample_report(2))
    env = {k: v for k, v in server.env.items() if k != "MAILBRIDGE_RELAY_URL"}
    server.env = env
    done = server.run("inject", str(report))
    assert done.returncode == 0, done.stderr
    assert "the `serve` of this store delivers through a relay (MAILBRIDGE_RELAY_URL)" in (
        done.stderr
    )
    assert "status `written`" in done.stderr
    summary = [x for x in done.stdout.splitlines() if x.startswith("alerts:")]
    assert len(summary) == 1 and re.match(
        r"alerts: [1-9]\d* written to files \(no relay\), 0 sent", summary[0]
    )
    written = json.loads(server.run("alerts", "--status", "written", "--json").stdout)
    assert written and all(a["status"] == "written" for a in written)
    listed = [x for x in server.run("alerts").stdout.splitlines() if " written " in x]
    assert len(listed) == len(written) and all(" sent " not in x for x in listed)
    sent = json.loads(server.run("alerts", "--status", "sent", "--json").stdout)
    assert len(sent) == by_serve  # only serve's went to the relay
    assert len(sink.messages()) == by_serve

    # A command whose settings name a relay gives no warning.
    server.env = {**env, "MAILBRIDGE_RELAY_URL": "smtp://127.0.0.1:9"}
    quiet = server.run("deliver")
    assert "delivers through a relay" not in quiet.stderr
