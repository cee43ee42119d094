"""What a casework operation takes and gives back, in one shape for all eight: who asked and
why (``Asked``, ``Request``), and what it did (``Result``: the field changes and who was told).

The CLI prints ``Result.lines()``, an email command answers with them and the web app shows
them; ``Result.as_json()`` is the CLI's --json (a change and a person told: their fields, by
name). casework.py runs the operations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Required, TypedDict

from mailbridge.alerts.outbox import Notifier
from mailbridge.clock import system_clock


class Asked(TypedDict, total=False):
    """The keyword arguments every operation takes, as the CLI, the web app and the email
    commands pass them: who asks (``by``), an optional ``note``, through what (``source``),
    when (``now``; None: the system clock) and the ``notifier`` to queue alerts with."""

    by: Required[str]
    note: str | None
    source: str
    now: datetime | None
    notifier: Notifier | None


@dataclass(frozen=True)
class Request:
    """Who asked for an operation, why, through what and when: one shape for all eight.

    ``by`` and ``note`` are kept on one line each; an empty ``by`` is "unknown".
    """

    by: str
    note: str | None
    source: str
    now: datetime

    @classmethod
    def of(cls, asked: Asked) -> Request:
        return cls(
            by=" ".join(asked["by"].split()) or "unknown",
            note=" ".join((asked.get("note") or "").split()) or None,
            source=asked.get("source", "cli"),
            now=asked.get("now") or system_clock(),
        )


@dataclass(frozen=True)
class FieldChange:
    """One field of one episode changed: the values as stored (times in ISO 8601)."""

    reference: str
    field: str
    old: Any
    new: Any

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Told:
    """One person told of the change: an alert row queued in the outbox."""

    reference: str
    event: str
    role: str
    address: str
    name: str | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        who = f"{self.name} <{self.address}>" if self.name else self.address
        return f"{who} ({self.role.replace('_', ' ')})"


@dataclass(frozen=True)
class Result:
    """What an operation did: the changes (oldest first) and who was told."""

    operation: str
    reference: str
    by: str
    at: datetime
    summary: str
    changes: tuple[FieldChange, ...]
    told: tuple[Told, ...]
    created: tuple[str, ...] = field(default=())  # new references (a split)

    def lines(self) -> list[str]:
        """The plain text the CLI prints and an email command answers with."""
        out = [self.summary]
        out += [
            f"  {c.reference} {c.field}: {show_value(c.old)} -> {show_value(c.new)}"
            for c in self.changes
        ]
        if self.told:
            out.append("told:")
            out += [f"  {t} - {t.event} {t.reference}" for t in self.told]
        else:
            out.append("told: nobody")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "reference": self.reference,
            "by": self.by,
            "at": self.at.isoformat(),
            "summary": self.summary,
            "changes": [c.as_json() for c in self.changes],
            "told": [t.as_json() for t in self.told],
            "created": list(self.created),
        }


def show_value(value: Any) -> str:
    """A stored value as a change line shows it; None is "(none)"."""
    if value is None:
        return "(none)"
    return str(value)
