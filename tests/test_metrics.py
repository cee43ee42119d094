"""The metrics registry of one service: the database collector and the two histograms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mailbridge.intake import Intake, make_incoming
from mailbridge.ops.metrics import IMAP_STATES, ServiceMetrics
from mailbridge.store import db
from tests.conftest import sample_report

T0 = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)


def samples(metrics: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_database_gauges_and_imap_state(engine):
    intake = Intake(engine, clock=lambda: T0)
    for n, source in ((1, "smtp"), (2, "smtp"), (3, "imap")):
        intake.accept(
            make_incoming(
                sample_report(n),
                source=source,
                mail_from=None,
                rcpt_tos=[],
                peer=None,
                clock=lambda: T0,
            )
        )
    state = ["connecting"]
    metrics = ServiceMetrics()
    metrics.watch_database(
        engine, clock=lambda: T0 + timedelta(minutes=5), imap_state=lambda: state[0]
    )
    got = samples(metrics)
    assert got[("mailbridge_database_up", ())] == 1
    assert got[("mailbridge_messages", (("source", "smtp"), ("status", "pending")))] == 2
    assert got[("mailbridge_messages", (("source", "imap"), ("status", "pending")))] == 1
    assert got[("mailbridge_queue_depth", (("queue", "pending_messages"),))] == 3
    assert got[("mailbridge_queue_depth", (("queue", "queued_alerts"),))] == 0
    assert got[("mailbridge_oldest_pending_alert_age_seconds", ())] == 0
    assert got[("mailbridge_last_message_received_timestamp_seconds", ())] == T0.timestamp()
    assert got[("mailbridge_imap_state", (("state", "connecting"),))] == 1
    assert sum(got[("mailbridge_imap_state", (("state", s),))] for s in IMAP_STATES) == 1
    assert got[("mailbridge_imap_connected", ())] == 0
    state[0] = "idle"
    assert samples(metrics)[("mailbridge_imap_connected", ())] == 1
    state[0] = "disabled"
    assert ("mailbridge_imap_connected", ()) not in samples(metrics)


def test_database_down_is_a_gauge_not_a_failed_scrape(tmp_path):
    engine = db.make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    metrics = ServiceMetrics()
    metrics.watch_database(engine, imap_state=lambda: "disabled")
    got = samples(metrics)
    assert got[("mailbridge_database_up", ())] == 0
    assert not any(name == "mailbridge_messages" for name, _ in got)
    engine.dispose()


def test_histograms_per_service_registry():
    one, two = ServiceMetrics(), ServiceMetrics()  # no "Duplicated timeseries" between them
    one.processed(T0, T0 + timedelta(seconds=0.3), "processed")
    one.processed(T0, T0 + timedelta(seconds=7), "ignored")
    one.alert_sent(T0, T0 + timedelta(seconds=2), "missing")
    got = samples(one)
    assert got[("mailbridge_processing_seconds_count", (("status", "processed"),))] == 1
    assert (
        got[("mailbridge_processing_seconds_bucket", (("le", "0.5"), ("status", "processed")))] == 1
    )
    assert (
        got[("mailbridge_processing_seconds_bucket", (("le", "5.0"), ("status", "ignored")))] == 0
    )
    assert got[("mailbridge_time_to_alert_seconds_sum", (("event", "missing"),))] == 2
    assert ("mailbridge_processing_seconds_count", (("status", "processed"),)) not in samples(two)
