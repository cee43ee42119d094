"""What the IMAP watcher and the Graph reader share: one daemon thread that keeps one mailbox
folder drained into the store through intake.

Each reader keeps what it needs to store a message (the engine, intake, the clock) and the two
hooks of a message it gives up on: ``gave_up`` is called in the transaction that stores the
set-aside message's placeholder (the duty desk's alert), then ``on_alert()`` wakes the sender.
The thread, its stop event and its phase for /healthz are here; how a reader connects,
fetches and backs off is its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from mailbridge.clock import Clock
from mailbridge.intake import Intake
from mailbridge.store import tx
from mailbridge.store.imap_state import GaveUp


class MailboxThread:
    """One thread draining one mailbox folder; subclasses implement ``run``."""

    def __init__(
        self,
        engine: tx.Engine,
        intake: Intake,
        *,
        clock: Clock,
        gave_up: GaveUp | None,
        on_alert: Callable[[], None] | None,
    ) -> None:
        self.engine = engine
        self.intake = intake
        self.clock = clock
        self.gave_up = gave_up
        self.on_alert = on_alert
        self.stored = 0  # messages committed (duplicates included)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # What the reader is doing, for /healthz and /metrics (see `state`).
        self._phase = "starting"

    def run(self) -> None:
        raise NotImplementedError

    def start_thread(self, name: str) -> None:
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)
        self._thread.start()

    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep, but wake at once on stop()."""
        self._stop.wait(seconds)

    @property
    def state(self) -> str:
        """The phase, or "stopped" once the thread is not running."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return "stopped"
        return self._phase
