"""`serve`'s worker off the listener's interpreter: worker processes, supervised (issue 18).

Reading a report and rendering its alerts is CPU work; in the listener's process it competes
with the SMTP event loop and the intake writer for one interpreter. With
``processing.worker_processes`` at 1 or more, ``serve`` runs that many worker processes (spawned,
so nothing of the listener's threads or connections is inherited) and a supervisor thread that
restarts one that dies, after a short back-off. Nothing is lost or doubled by a death: each
message is one transaction, and the claim of a dead process runs out with its lease
(``processing.lease_seconds``), after which a live worker takes it (runtime/worker.py).

Until a worker process says it is ready (a cold start imports the reader, which takes a while
on a loaded machine) and whenever none is alive, the ``standby`` worker thread in serve's own
process does the work, so mail is never left waiting for a process to come up; it pauses as
soon as one is ready.

Between the processes:
- wake-ups (intake stored mail) and the lane-1 hint go to the children as ``Event``s;
- the children's commits (wake the sender), processing times (the /metrics histogram) and log
  records come back on one queue, read by a thread of the parent;
- on SQLite, the count of SMTP clients waiting for their 250 is a shared integer, so a child
  lets the intake writer take the write lock first, as the worker thread did.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from mailbridge.ops.logs import ContextFilter, log_context
from mailbridge.runtime.worker import Worker, take_hint
from mailbridge.settings.config import Settings

log = logging.getLogger(__name__)

_CTX = multiprocessing.get_context("spawn")
_RESTART_FIRST = 0.5
_RESTART_MAX = 30.0


class WorkerProcesses:
    """Runs ``count`` worker processes and keeps them running until ``stop``."""

    def __init__(
        self,
        settings: Settings,
        *,
        count: int,
        on_committed: Callable[[], None] | None = None,
        on_finished: Callable[[], Callable[[datetime, datetime, str], None] | None] | None = None,
        standby: Worker | None = None,
    ) -> None:
        self.settings = settings
        self.count = count
        self.on_committed = on_committed
        # Read at each event, so /metrics can be wired after the processes start.
        self.on_finished = on_finished
        self.busy: Synchronized[int] = _CTX.Value("i", 0)
        self._events: Any = _CTX.Queue()
        self._stop = _CTX.Event()
        self._wakes = [_CTX.Event() for _ in range(count)]
        self._priority = [_CTX.Event() for _ in range(count)]
        self._procs: list[BaseProcess | None] = [None] * count
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.restarts = 0
        self.standby = standby
        self._ready: set[int] = set()
        self._ready_lock = threading.Lock()

    # -- what serve and intake call ---------------------------------------------------
    def wake(self) -> None:
        for event in self._wakes:
            event.set()
        if self.standby is not None:
            self.standby.wake()

    def priority(self) -> None:
        """Lane-1 mail was stored: a child working a lower lane claims again."""
        for event in self._priority:
            event.set()
        self.wake()

    def priority_with(self, also: Callable[[], None]) -> Callable[[], None]:
        """The lane-1 hint for the processes and for the standby thread's own hint."""

        def both() -> None:
            also()
            self.priority()

        return both

    def pids(self) -> list[int | None]:
        return [p.pid if p is not None else None for p in self._procs]

    def start(self) -> None:
        if self.standby is not None:
            self.standby.start()  # works until a process is ready
        for index in range(self.count):
            self._spawn(index)
        for target, name in ((self._read_events, "worker-events"), (self._supervise, "supervisor")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float | None = 60) -> None:
        """Let each child finish the message in hand, then end; kill what does not."""
        self._stopping.set()
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + (timeout or 60)
        with self._ready_lock:
            ready = set(self._ready)
        for index, proc in enumerate(self._procs):
            if proc is not None and index not in ready and proc.is_alive():
                # Still starting (a cold start imports the reader: seconds): it holds no work,
                # and waiting for it would hold serve's stop. A batch it claimed in the instant
                # before saying ready is leased, and taken up again when the lease runs out.
                proc.kill()
        for proc in self._procs:
            if proc is not None:
                proc.join(max(0.1, deadline - time.monotonic()))
                if proc.is_alive():
                    log.error("worker process %s did not stop in time; killed", proc.pid)
                    proc.kill()
                    proc.join(5)
        self._events.put(None)
        for thread in self._threads:
            thread.join(5)
        if self.standby is not None:
            self.standby.stop(timeout)

    # -- the parent's threads ------------------------------------------------------------
    def _spawn(self, index: int) -> None:
        self._wakes[index].set()  # a fresh child looks for work at once
        proc = _CTX.Process(
            target=child_main,
            name=f"mailbridge-worker-{index}",
            args=(
                self.settings,
                {
                    "events": self._events,
                    "stop": self._stop,
                    "wake": self._wakes[index],
                    "priority": self._priority[index],
                    "busy": self.busy,
                    "levels": _levels(),
                    "index": index,
                },
            ),
            daemon=True,
        )
        proc.start()
        self._procs[index] = proc
        log.info("worker process %d started pid=%s", index, proc.pid)

    def _supervise(self) -> None:
        delays = [_RESTART_FIRST] * self.count
        while not self._stopping.is_set():
            for index, proc in enumerate(self._procs):
                if proc is None or proc.is_alive() or self._stopping.is_set():
                    continue
                log.error(
                    "worker process %d (pid=%s) ended with exit code %s; restarting in %.1fs",
                    index,
                    proc.pid,
                    proc.exitcode,
                    delays[index],
                )
                self._set_ready(index, False)
                if self._stopping.wait(delays[index]):
                    return
                delays[index] = min(_RESTART_MAX, delays[index] * 2)
                self.restarts += 1
                self._spawn(index)
            # A child that has run a while earns a fresh back-off.
            self._stopping.wait(0.2)
            for index, proc in enumerate(self._procs):
                if proc is not None and proc.is_alive():
                    delays[index] = max(_RESTART_FIRST, delays[index] * 0.9)

    def _read_events(self) -> None:
        while True:
            try:
                item = self._events.get()
            except (EOFError, OSError):
                return
            if item is None:
                return
            try:
                self._dispatch(item)
            except Exception as exc:  # a metric or a log line must never stop the reader
                log.warning("worker event not handled: %s", type(exc).__name__)

    def _dispatch(self, item: Any) -> None:
        if isinstance(item, logging.LogRecord):
            with log_context(
                message_id=getattr(item, "message_id", None), episode=getattr(item, "episode", None)
            ):
                logging.getLogger(item.name).handle(item)
            return
        kind = item[0]
        if kind in ("ready", "stopped"):
            self._set_ready(item[1], kind == "ready")
        elif kind == "committed" and self.on_committed is not None:
            self.on_committed()
        elif kind == "finished" and self.on_finished is not None:
            hook = self.on_finished()
            if hook is not None:
                hook(item[1], item[2], item[3])


    def _set_ready(self, index: int, ready: bool) -> None:
        """Pause the standby thread while a process is ready; resume it when none is."""
        with self._ready_lock:
            (self._ready.add if ready else self._ready.discard)(index)
            anyone = bool(self._ready)
        if ready:
            log.info("worker process %d ready: serve's own worker thread stands by", index)
        if self.standby is None or self._stopping.is_set():
            return
        if anyone:
            self.standby.paused.set()
        elif self.standby.paused.is_set():
            log.warning("no worker process is ready: serve's own worker thread stands in")
            self.standby.paused.clear()
            self.standby.wake()


def _levels() -> dict[str, int]:
    """The parent's logger levels, so a child logs (and forwards) the same lines."""
    levels = {"": logging.getLogger().level}
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels[name] = logger.level
    return levels


def child_main(settings: Settings, channels: dict[str, Any]) -> None:
    """One worker process: the worker loop on its own thread, woken by the parent.

    ``channels``: the parent's queue of ``events``, the ``stop``, ``wake`` and ``priority``
    events, the shared ``busy`` count and the logger ``levels``.
    """
    events, stop, wake = channels["events"], channels["stop"], channels["wake"]
    priority, busy, levels = channels["priority"], channels["busy"], channels["levels"]
    index = channels["index"]
    # Ctrl-C reaches the whole process group: the parent's stop event ends us. A SIGTERM sent
    # to us directly (systemd stops every process of the unit) finishes the message in hand.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda _sig, _frame: terminated.set())
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.handlers.QueueHandler(events)
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)

    # Imported here: the parent never needs them for the child, and spawn re-imports anyway.
    from mailbridge.alerts.outbox import Notifier  # noqa: PLC0415
    from mailbridge.episodes.processing import ReadingPipeline  # noqa: PLC0415
    from mailbridge.store import db  # noqa: PLC0415

    engine = db.make_engine(settings.database_url)
    worker = Worker(
        engine,
        ReadingPipeline(settings, notifier=Notifier(settings)),
        settings.processing,
        on_committed=lambda: events.put(("committed",)),
    )
    worker.on_finished = lambda received, finished, status: events.put(
        ("finished", received, finished, status)
    )

    worker.priority_waiting = take_hint(priority)
    if engine.dialect.name == "sqlite":
        worker.yield_to = lambda: busy.value > 0
    parent = multiprocessing.parent_process()  # serve; its sentinel closes when it dies
    worker.start()
    events.put(("ready", index))
    try:
        while not stop.is_set() and not terminated.is_set():
            if parent is not None and not parent.is_alive():
                # serve is gone (killed -9): an orphan must not go on claiming mail that a
                # new serve, or another instance, will take over.
                log.warning("worker process %d: serve is gone; stopping", index)
                break
            if wake.wait(0.5):
                wake.clear()
                worker.wake()
    finally:
        worker.stop()
        engine.dispose()
        with contextlib.suppress(queue.Full):
            events.put_nowait(("stopped", index))
