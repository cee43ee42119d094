"""The one background loop that the worker and the sender share: a daemon thread of passes.

Each pass says how long to sleep before the next (0: go again at once, there may be more). A
wake-up cuts the sleep short: intake wakes the worker, a commit wakes the sender. A pass that
raises never ends the thread, because the thread that drives every report or every alert must
outlive a database outage; the subclass says how to log it and how long to wait.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class BackgroundLoop(ABC):
    """Run ``run_pass`` on a daemon thread until ``stop``; subclasses implement the pass."""

    #: the thread's name, as logs and thread dumps show it
    thread_name = "loop"

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Cut the current sleep short: there is work."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 60) -> None:
        """Finish the pass in hand, then return."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopping(self) -> threading.Event:
        """Set once ``stop`` was called: long passes check it between items."""
        return self._stop

    @abstractmethod
    def run_pass(self) -> float:
        """Do one pass; return the seconds to sleep before the next (0: at once)."""

    @abstractmethod
    def pass_failed(self, exc: Exception) -> float:
        """Log a pass that raised; return the seconds to sleep before trying again."""

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.run_pass()
            except Exception as exc:
                wait = self.pass_failed(exc)
            if wait:
                self._wake.wait(wait)
                self._wake.clear()
