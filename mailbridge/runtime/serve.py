"""`mailbridge serve`: wires the listener, the IMAP watcher, intake, the worker and the sender;
stops cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import threading
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

from mailbridge.alerts.outbox import Notifier
from mailbridge.clock import Clock, system_clock
from mailbridge.delivery.sender import Sender
from mailbridge.episodes.processing import ReadingPipeline
from mailbridge.errors import MailbridgeError, StartupError
from mailbridge.ingress.graph import GraphReader
from mailbridge.ingress.imap.watcher import Watcher
from mailbridge.ingress.replies import ReplyTally, domains_of
from mailbridge.ingress.smtp import Listener
from mailbridge.intake import Intake, LaneFacts
from mailbridge.ops import oauth2_providers
from mailbridge.ops.http import HttpEndpoint, Probes, start_endpoint
from mailbridge.ops.logs import NOISY
from mailbridge.ops.metrics import ServiceMetrics
from mailbridge.reports import digest, retention
from mailbridge.runtime import refusals, triage
from mailbridge.runtime.worker import Worker, take_hint
from mailbridge.runtime.workers import WorkerProcesses
from mailbridge.settings.config import Settings
from mailbridge.settings.validation import listener_warning
from mailbridge.store import db, service, tx
from mailbridge.timers.runner import Runner

if TYPE_CHECKING:
    from mailbridge.web.server import WebServer

log = logging.getLogger(__name__)


# aiosmtpd ("mail.log") logs every envelope address and command line at INFO, and alembic
# chatters; capped at WARNING so the logs carry no carer's address (docs/privacy.md).
def quiet_libraries() -> None:
    """aiosmtpd logs envelope addresses at INFO; library chatter stays at WARNING or above."""
    for name in NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def open_store(settings: Settings) -> tx.Engine:
    """The engine, with the schema at head (SQLite) or checked to be (PostgreSQL)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(settings.database_url)
    db.ensure_schema(engine)
    return engine


def make_runner(engine: tx.Engine, settings: Settings) -> Runner:
    """Performs due escalations and reminders; used by serve's scheduler and `due --run`."""
    notifier = Notifier(settings)
    return Runner(engine, notifier.routing, notifier.timed_event)


def start_scheduler(
    runner: Runner,
    sender: Sender,
    settings: Settings,
    clock: Clock = system_clock,
    *,
    tally: ReplyTally | None = None,
) -> BackgroundScheduler:
    """APScheduler ticks the runner and runs the daily purge; the state lives in the database."""
    notifier = Notifier(settings, routing=runner.routing)

    def tick() -> None:
        try:
            if runner.run_due(clock()):
                sender.wake()
        except Exception as exc:
            log.error("timer pass failed: %s; it runs again at the next tick", type(exc).__name__)
        if tally is not None:
            try:
                if refusals.record(runner.engine, tally, notifier, settings, clock()):
                    sender.wake()
            except Exception as exc:
                log.error("SMTP reply counts not stored: %s; kept for the next tick", exc)
        try:
            if triage.summarise(runner.engine, notifier, settings, clock()):
                sender.wake()
        except Exception as exc:
            log.error("triage summary failed: %s; it runs again at the next tick", exc)

    first_message: list[datetime] = []  # found once; it never changes after

    def send_digests() -> None:
        try:
            if not first_message:
                found = digest.in_use_since(runner.engine)
                if found is None:
                    return
                first_message.append(found)
            outcomes = digest.run_due(
                runner.engine, settings, runner.routing, clock(), since=first_message[0]
            )
            if any(o.queued for o in outcomes):
                sender.wake()
        except Exception as exc:
            log.error("digest pass failed: %s; it runs again in 10 minutes", type(exc).__name__)

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        tick,
        "interval",
        seconds=settings.processing.timer_seconds,
        coalesce=True,
        max_instances=1,
        next_run_time=clock(),
    )
    retention.schedule(scheduler, runner.engine, settings, clock)
    if settings.digest.periods:
        scheduler.add_job(
            send_digests,
            "interval",
            minutes=10,
            coalesce=True,
            max_instances=1,
            next_run_time=clock(),
        )
    scheduler.start()
    return scheduler


def make_workers(
    engine: tx.Engine, settings: Settings, *, clock: Clock = system_clock
) -> tuple[Worker, Sender]:
    """The worker and the sender, sharing one notifier; the worker wakes the sender on commit."""
    warning = relay_warning(engine, settings)
    if warning:
        log.warning("%s", warning)
    notifier = Notifier(settings)
    sender = Sender(
        engine,
        settings,
        clock=clock,
        on_give_up=lambda t, alert, error: notifier.delivery_failed(
            t, alert, error, clock()
        ),
    )
    worker = Worker(
        engine,
        ReadingPipeline(settings, notifier=notifier),
        settings.processing,
        clock=clock,
        on_committed=sender.wake,
    )
    return worker, sender


def worker_processes(
    settings: Settings, engine: tx.Engine, worker: Worker, sender: Sender
) -> WorkerProcesses | None:
    """The supervised worker processes (processing.worker_processes), or None for the thread.

    An in-memory SQLite database lives in this process only: it keeps the worker thread.
    """
    count = settings.processing.worker_processes
    if count < 1 or (engine.dialect.name == "sqlite" and db.is_memory(engine)):
        return None
    return WorkerProcesses(
        settings,
        count=count,
        on_committed=sender.wake,
        on_finished=lambda: worker.on_finished,
        standby=worker,
    )


def priority_hint(worker: Worker) -> Callable[[], None]:
    """The worker thread's lane-1 hint: intake sets it, the worker reads and resets it."""
    flag = threading.Event()
    worker.priority_waiting = take_hint(flag)
    return flag.set


def start_watcher(
    engine: tx.Engine, settings: Settings, intake: Intake, worker: Worker, sender: Sender
) -> Watcher | None:
    """The IMAP watcher thread when imap.url is set; a problem is logged, never fatal to serve."""
    if not settings.imap.url:
        return None
    try:
        watcher = Watcher(
            engine,
            settings.imap,
            intake,
            clock=worker.clock,
            gave_up=worker.pipeline.gave_up,
            on_alert=sender.wake,
            tokens=oauth2_providers.source_from_settings(settings.oauth2, settings.imap.auth),
        )
        watcher.start()
    except Exception as exc:
        log.error("IMAP watcher not started: %s", exc)
        return None
    return watcher


def start_graph_reader(
    engine: tx.Engine,
    settings: Settings,
    intake: Intake,
    worker: Worker | None = None,
    sender: Sender | None = None,
) -> GraphReader | None:
    """The Graph reader thread when graph.mailbox is set; a problem is logged, never fatal.

    ``worker`` and ``sender``: the duty desk is told of a message set aside (serve passes both).
    """
    if not settings.graph.mailbox:
        return None
    try:
        reader = GraphReader(
            engine,
            settings.graph,
            intake,
            oauth2_providers.graph_source(settings.oauth2),
            ca_file=settings.oauth2.ca_file,
            clock=worker.clock if worker is not None else system_clock,
            gave_up=worker.pipeline.gave_up if worker is not None else None,
            on_alert=sender.wake if sender is not None else None,
        )
        reader.start()
    except MailbridgeError as exc:
        log.error("Graph reader not started: %s", exc)
        return None
    return reader


def relay_warning(engine: tx.Engine, settings: Settings) -> str | None:
    """A warning when this process has no relay but the store's `serve` has one: its alerts
    would only be written to files (and say `written`), never reaching the relay."""
    if settings.relay.url:
        return None
    try:
        with tx.read(engine) as t:
            recorded = service.get_fact(t, service.RELAY)
    except Exception:
        return None  # no store to read yet: nothing to compare with
    if recorded != "set":
        return None
    return (
        "the `serve` of this store delivers through a relay (MAILBRIDGE_RELAY_URL), but this "
        "command has none: its alerts are only written to files in "
        f"{settings.data_dir / 'outbox'} (status `written`); set the same relay to send them"
    )


def record_facts(engine: tx.Engine, settings: Settings) -> None:
    """What later commands against this store should know of this `serve` (its relay)."""
    try:
        with tx.write(engine) as t:
            relay = "set" if settings.relay.url else "none"
            service.set_fact(t, service.RELAY, relay, system_clock())
    except Exception as exc:
        log.warning("could not record this serve's settings in the store: %s", exc)


# -- monitoring: [http] enabled ------------------------------------------------------------


def imap_state(settings: Settings, watcher: Watcher | None) -> str:
    if not settings.imap.url:
        return "disabled"
    return watcher.state if watcher is not None else "stopped"


def listener_probe(loop: asyncio.AbstractEventLoop, listener: Listener) -> Callable[[], bool]:
    """True when the listener is serving and its event loop answers within 2 s."""

    async def serving() -> bool:
        return listener.server is not None and listener.server.is_serving()

    def probe() -> bool:
        return asyncio.run_coroutine_threadsafe(serving(), loop).result(timeout=2)

    return probe


def start_http(
    settings: Settings,
    engine: tx.Engine,
    worker: Worker,
    sender: Sender,
    probes: Probes,
    *,
    tally: ReplyTally | None = None,
) -> HttpEndpoint | None:
    """/metrics and /healthz; the worker and the sender report their latencies to it."""
    if not settings.http.enabled:
        return None
    metrics = ServiceMetrics()
    metrics.watch_database(engine, clock=worker.clock, imap_state=probes.imap_state)
    if tally is not None:
        metrics.watch_replies(tally.totals)
    worker.on_finished = metrics.processed
    sender.on_sent = metrics.alert_sent
    try:
        return start_endpoint(
            settings.http.host, settings.http.port, registry=metrics.registry, probes=probes
        )
    except OSError as exc:
        raise StartupError(
            f"cannot serve HTTP on {settings.http.host}:{settings.http.port}: {exc.strerror or exc}"
        ) from exc


def start_web(settings: Settings, engine: tx.Engine) -> WebServer | None:
    """The staff web app on its own thread and event loop (docs/web.md); off by default."""
    if not settings.web.enabled:
        return None
    from mailbridge.web.server import WebServer  # noqa: PLC0415 (only `serve` with [web] needs it)

    server = WebServer(settings, engine)
    server.start()
    return server


async def serve(
    settings: Settings,
    *,
    ready: Callable[[str, int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop``, for callers that are not the main thread).

    Every part is registered on one exit stack as it starts, so a failure at any step, or the
    stop, undoes exactly what was started, in reverse: the listener first (no new mail), then
    the watcher, the timers, the worker (finishing the message in hand), the sender, the HTTP
    endpoint, the intake writer, and the engine last.
    """
    quiet_libraries()
    loop = asyncio.get_running_loop()

    def blocking(stop_part: Callable[[], object]) -> Callable[[], Awaitable[object]]:
        return lambda: loop.run_in_executor(None, stop_part)

    async with AsyncExitStack() as parts:
        engine = open_store(settings)
        parts.callback(engine.dispose)
        worker, sender = make_workers(engine, settings)
        processes = worker_processes(settings, engine, worker, sender)
        runner_of_work: Worker | WorkerProcesses = processes or worker
        hint = priority_hint(worker)
        intake = Intake(
            engine,
            on_stored=runner_of_work.wake,
            on_priority=processes.priority_with(hint) if processes else hint,
            lane_facts=LaneFacts(
                backlog_after=timedelta(minutes=settings.processing.backlog_minutes)
            ),
        )
        parts.push_async_callback(blocking(intake.close))
        if processes is not None:
            intake.busy_counter = processes.busy
        if engine.dialect.name == "sqlite":
            worker.yield_to = intake.busy
        record_facts(engine, settings)
        tally = ReplyTally(domains_of(settings.smtp.addresses))
        try:
            listener = Listener(settings.smtp, intake, tally)
        except (OSError, ssl.SSLError) as exc:
            # check-config caught these at start; a file changed since (renewal in progress?).
            raise StartupError(f"cannot set up the SMTP listener's TLS or AUTH: {exc}") from exc
        stopping = stop or asyncio.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stopping.set)

        watcher: Watcher | None = None
        graph_reader: GraphReader | None = None
        probes = Probes(
            engine,
            listener_probe(loop, listener),
            lambda: imap_state(settings, watcher),
            graph=(settings.graph.mailbox, settings.graph.folder)
            if settings.graph.mailbox
            else None,
            graph_state=lambda: graph_reader.state if graph_reader is not None else "stopped",
            clock=worker.clock,
        )
        http = start_http(settings, engine, worker, sender, probes, tally=tally)
        if http is not None:
            parts.push_async_callback(blocking(http.stop))
        web = start_web(settings, engine)
        if web is not None:
            parts.push_async_callback(blocking(web.stop))
        sender.start()
        parts.push_async_callback(blocking(sender.stop))
        runner_of_work.start()
        parts.push_async_callback(blocking(runner_of_work.stop))
        runner = make_runner(engine, settings)
        scheduler = start_scheduler(runner, sender, settings, tally=tally)
        parts.push_async_callback(blocking(scheduler.shutdown))
        watcher = start_watcher(engine, settings, intake, worker, sender)
        if watcher is not None:
            parts.push_async_callback(blocking(watcher.stop))
        graph_reader = start_graph_reader(engine, settings, intake, worker, sender)
        if graph_reader is not None:
            parts.push_async_callback(blocking(graph_reader.stop))
        try:
            host, port = await listener.start()
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {settings.smtp.host}:{settings.smtp.port}: "
                f"{exc.strerror or exc}"
            ) from exc

        def record_last_counts() -> None:
            try:  # the last counts of this instance, once the listener has stopped
                refusals.record(
                    engine, tally, Notifier(settings, routing=runner.routing), settings,
                    system_clock(),
                )
            except Exception as exc:
                log.error("SMTP reply counts not stored at stop: %s", exc)

        parts.push_async_callback(blocking(record_last_counts))
        parts.push_async_callback(listener.stop)
        clear_text = listener_warning(settings)
        if clear_text:
            log.warning("%s", clear_text)
        log.info(
            "mailbridge listening on %s:%d for %s; store %s",
            host,
            port,
            ", ".join(settings.smtp.addresses),
            engine.url.render_as_string(hide_password=True),
        )
        if ready is not None:
            ready(host, port)
        await stopping.wait()
        log.info("stopping: no new connections; finishing messages in flight")
    log.info("stopped cleanly")
    return 0
