"""Prometheus metrics for one `serve`: two histograms it observes, and a collector over the DB.

Counts of messages, alerts and queues come from the database at scrape time
(`store/health.py`), because the database is the truth shared by every instance; a counter kept
in one process would show only that process's share and restart at zero. Latencies are
observed where they happen (the worker, the sender), so they are per instance and Prometheus
adds them up.
Each service has its own registry: two services in one process (tests) never collide.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mailbridge.clock import Clock, system_clock
from mailbridge.store import db, tx
from mailbridge.store import health as figures

log = logging.getLogger(__name__)

IMAP_STATES = (
    "disabled",
    "starting",
    "standby",
    "connecting",
    "connected",
    "idle",
    "disconnected",
    "stopped",
)
CONNECTED_STATES = ("connected", "idle")
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


def read_only(engine: tx.Engine) -> tx.Engine:
    """The same engine, marked so SQLite reads take no write lock (see db.py)."""
    return engine.execution_options(**{db.READ_ONLY: True})


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape; `mailbridge_database_up` 0 if it fails."""

    def __init__(
        self,
        engine: tx.Engine,
        *,
        clock: Clock = system_clock,
        imap_state: Callable[[], str] = lambda: "disabled",
    ) -> None:
        self.engine = read_only(engine)
        self.clock = clock
        self.imap_state = imap_state

    def describe(self) -> list[Metric]:
        return []  # names are not checked for duplicates; collect() is only run on a scrape

    def collect(self) -> Iterator[Metric]:
        yield from self._imap()
        up = GaugeMetricFamily(
            "mailbridge_database_up", "1 if this instance could query the database at the scrape"
        )
        try:
            with tx.read(self.engine) as t:
                families = list(self._from_database(t))
        except Exception as exc:
            log.warning("metrics: cannot read the database: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _from_database(self, t: tx.Tx) -> Iterator[Metric]:
        now = self.clock()
        messages = GaugeMetricFamily(
            "mailbridge_messages",
            "Stored inbound messages by source and current status (all instances)",
            labels=["source", "status"],
        )
        for source, status, count in figures.message_counts(t):
            messages.add_metric([source, status], count)
        yield messages
        alerts = GaugeMetricFamily(
            "mailbridge_alerts", "Alert rows by status (all instances)", labels=["status"]
        )
        for status, count in figures.alert_counts(t):
            alerts.add_metric([status], count)
        yield alerts
        q = figures.queues(t)
        depth = GaugeMetricFamily(
            "mailbridge_queue_depth",
            "Work waiting: pending messages, queued alerts, pending due actions",
            labels=["queue"],
        )
        depth.add_metric(["pending_messages"], q.pending_messages)
        depth.add_metric(["queued_alerts"], q.queued_alerts)
        depth.add_metric(["pending_due_actions"], q.pending_due_actions)
        yield depth
        oldest = figures.oldest_alert(t, now)
        yield GaugeMetricFamily(
            "mailbridge_oldest_pending_alert_age_seconds",
            "Age of the oldest alert not yet delivered; 0 when none is waiting",
            value=oldest.age_seconds if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "mailbridge_overdue_interviews",
            "Return home interviews overdue and not completed or declined",
            value=len(figures.overdue_interviews(t, now)),
        )
        last = figures.last_message(t)
        if last is not None:
            yield GaugeMetricFamily(
                "mailbridge_last_message_received_timestamp_seconds",
                "When the newest stored message was received (Unix time)",
                value=last.received_at.timestamp(),
            )

    def _imap(self) -> Iterator[Metric]:
        state = self.imap_state()
        family = GaugeMetricFamily(
            "mailbridge_imap_state",
            "This instance's IMAP watcher: 1 for its current state",
            labels=["state"],
        )
        for name in IMAP_STATES:
            family.add_metric([name], 1 if name == state else 0)
        yield family
        if state != "disabled":
            yield GaugeMetricFamily(
                "mailbridge_imap_connected",
                "1 if this instance's IMAP watcher holds a working connection (0 on standby)",
                value=1 if state in CONNECTED_STATES else 0,
            )


class RepliesCollector(Collector):
    """`mailbridge_smtp_replies_total{code}`: every reply code this instance's listener gave."""

    def __init__(self, totals: Callable[[], dict[str, int]]) -> None:
        self.totals = totals

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "mailbridge_smtp_replies",
            "SMTP replies given by this instance's listener, by reply code (250, 451, 550, ...)",
            labels=["code"],
        )
        for code, count in sorted(self.totals().items()):
            family.add_metric([code], count)
        yield family


class ServiceMetrics:
    """The registry of one `serve`, and the observations the worker and sender report."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.processing_seconds = self._since_receipt(
            "mailbridge_processing_seconds",
            "From a message's receipt to its terminal status, by status (this instance)",
            "status",
        )
        self.time_to_alert_seconds = self._since_receipt(
            "mailbridge_time_to_alert_seconds",
            "From the receipt of the message behind an alert to the alert sent, by event",
            "event",
        )

    def _since_receipt(self, name: str, documentation: str, label: str) -> Histogram:
        """A histogram of seconds from a message's receipt, in the latency buckets."""
        return Histogram(
            name, documentation, [label], buckets=_LATENCY_BUCKETS, registry=self.registry
        )

    def watch_database(
        self, engine: tx.Engine, *, clock: Clock = system_clock, imap_state: Callable[[], str]
    ) -> None:
        self.registry.register(DatabaseCollector(engine, clock=clock, imap_state=imap_state))

    def watch_replies(self, totals: Callable[[], dict[str, int]]) -> None:
        self.registry.register(RepliesCollector(totals))

    def processed(self, received_at: datetime, finished_at: datetime, status: str) -> None:
        _observe(self.processing_seconds.labels(status=status), received_at, finished_at)

    def alert_sent(self, received_at: datetime, sent_at: datetime, event: str) -> None:
        _observe(self.time_to_alert_seconds.labels(event=event), received_at, sent_at)


def _observe(histogram: Histogram, start: datetime, end: datetime) -> None:
    """The seconds from start to end, observed as 0 rather than negative."""
    histogram.observe(max(0.0, (end - start).total_seconds()))
