"""/healthz and /metrics served by a real `serve`, read with real HTTP requests."""

from __future__ import annotations

import json
import smtplib
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailbridge.errors import MailbridgeError
from mailbridge.ops.http import Probes, check
from mailbridge.runtime import serve as service
from mailbridge.store import db
from mailbridge.store.models import Alert
from tests.support.env import sample_report

FAST = """\
[processing]
poll_seconds = 0.2
[relay]
backoff_seconds = 60
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = get(port, "/metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def wait_for(predicate: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def send_report(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("carer@homes.example", ["missing@council.example"], sample_report(1))


def processed_smtp(port: int) -> dict[Any, float] | None:
    got = scrape(port)
    key = ("mailbridge_messages", (("source", "smtp"), ("status", "processed")))
    return got if got.get(key) == 1 else None


def alert_counts(database_url: str) -> dict[str, int]:
    engine = db.make_engine(database_url)
    with Session(engine) as session:
        rows = session.execute(select(Alert.status, func.count()).group_by(Alert.status)).all()
    engine.dispose()
    return {status: count for status, count in rows}


def test_a_report_shows_in_metrics_and_healthz(engine, make_settings, run_service, database_url):
    http_port = free_port()
    dead_relay = free_port()  # nothing listens: every alert stays queued, retrying
    settings = make_settings(
        FAST,
        http_enabled="true",
        http_port=str(http_port),
        relay_url=f"smtp://127.0.0.1:{dead_relay}",
    )
    svc = run_service(settings)

    status, body = get(http_port, "/healthz")
    assert status == 200
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["database"] == {"ok": True}
    assert health["listener"] == {"ok": True}
    assert health["imap"] == {"state": "disabled", "ok": True}

    send_report(svc.port)
    got = wait_for(lambda: processed_smtp(http_port))
    truth = wait_for(lambda: alert_counts(database_url) or None)
    queued = truth.get("queued", 0)
    assert queued >= 2  # the duty desk, the apprentice, the receipt: none can be delivered
    got = scrape(http_port)
    assert got[("mailbridge_database_up", ())] == 1
    assert got[("mailbridge_alerts", (("status", "queued"),))] == queued
    assert got[("mailbridge_queue_depth", (("queue", "queued_alerts"),))] == queued
    assert got[("mailbridge_queue_depth", (("queue", "pending_messages"),))] == 0
    assert got[("mailbridge_oldest_pending_alert_age_seconds", ())] > 0
    assert got[("mailbridge_processing_seconds_count", (("status", "processed"),))] == 1
    assert got[("mailbridge_imap_state", (("state", "disabled"),))] == 1
    assert not any(name == "mailbridge_time_to_alert_seconds_count" for name, _ in got)

    status, body = get(http_port, "/nowhere")
    assert status == 404


def test_time_to_alert_is_observed_when_alerts_are_sent(
    engine, make_settings, run_service, database_url
):
    http_port = free_port()
    settings = make_settings(FAST, http_enabled="true", http_port=str(http_port))
    svc = run_service(settings)  # no relay: alerts become .eml files at once
    send_report(svc.port)
    wait_for(lambda: processed_smtp(http_port))

    def all_sent() -> dict[Any, float] | None:
        got = scrape(http_port)
        sent = alert_counts(database_url).get("written", 0)  # no relay: files
        observed = sum(
            v for (name, _), v in got.items() if name == "mailbridge_time_to_alert_seconds_count"
        )
        return got if sent and observed == sent else None

    got = wait_for(all_sent)
    assert got[("mailbridge_queue_depth", (("queue", "queued_alerts"),))] == 0
    assert got[("mailbridge_oldest_pending_alert_age_seconds", ())] == 0


def test_healthz_503_while_the_database_fails(
    engine, make_settings, run_service, monkeypatch, database_url
):
    """And after the outage the service still works: the worker and the sender survived it."""
    engines = []
    real_open = service.open_store

    def capture(settings):
        engine = real_open(settings)
        engines.append(engine)
        return engine

    monkeypatch.setattr(service, "open_store", capture)
    http_port = free_port()
    svc = run_service(make_settings(FAST, http_enabled="true", http_port=str(http_port)))
    failing = [True]

    def fault(*_args: Any, **_kwargs: Any) -> None:  # an injected outage
        if failing[0]:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database down"))

    event.listen(engines[0], "before_cursor_execute", fault)
    try:
        status, body = get(http_port, "/healthz")
        assert status == 503
        health = json.loads(body)
        assert health["status"] == "unhealthy"
        assert health["database"]["ok"] is False
        assert health["listener"] == {"ok": True}
        assert scrape(http_port)[("mailbridge_database_up", ())] == 0
        time.sleep(0.6)  # several idle passes of the worker and the sender meet the outage
        failing[0] = False
        assert get(http_port, "/healthz")[0] == 200
    finally:
        event.remove(engines[0], "before_cursor_execute", fault)
    send_report(svc.port)

    def delivered() -> bool:
        counts = alert_counts(database_url)
        return counts.get("written", 0) >= 2 and "queued" not in counts

    wait_for(delivered)


def test_an_unreachable_database_is_unhealthy():
    engine = db.make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    healthy, body = check(Probes(engine, lambda: True, lambda: "idle"))
    engine.dispose()
    assert not healthy
    assert body["database"] == {"ok": False, "error": "OperationalError"}
    assert body["imap"] == {"state": "idle", "ok": True}


def test_a_dead_imap_watcher_or_a_stopped_listener_is_unhealthy(engine):
    assert check(Probes(engine, lambda: True, lambda: "standby"))[0]
    assert not check(Probes(engine, lambda: True, lambda: "stopped"))[0]
    assert not check(Probes(engine, lambda: False, lambda: "disabled"))[0]


def test_the_http_port_taken_stops_serve_with_one_line(engine, make_settings, run_service):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = make_settings(http_enabled="true", http_port=str(port))
        with pytest.raises(MailbridgeError, match=f"cannot serve HTTP on 127.0.0.1:{port}"):
            run_service(settings)
