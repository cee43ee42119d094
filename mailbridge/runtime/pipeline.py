"""The seam between the worker and what processing means.

The worker owns claiming, transactions, retries and terminal states; a pipeline only says
what became of one message, inside the worker's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from mailbridge.store import tx
from mailbridge.store.models import InboundMessage


@dataclass(frozen=True)
class Outcome:
    status: str  # processed / ignored / failed
    reason: str | None = None


class Pipeline(Protocol):
    def prepare(self, raw: bytes, received_at: datetime) -> Any:
        """The pure work (parsing, reading): no database, no transaction held while it runs."""
        ...

    def process(self, t: tx.Tx, message: InboundMessage, prepared: Any) -> Outcome:
        """Apply ``prepared`` in the transaction ``t``; raising rolls back and counts an attempt."""
        ...

    def gave_up(self, t: tx.Tx, message: InboundMessage, error: str) -> None:
        """The message is now failed for good; make sure a person hears about it."""
        ...
