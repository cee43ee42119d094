"""The clock is injected everywhere, so timers are tested without sleeping.

Also how a typed ISO time is read in the service's zone (``iso_in_zone``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def iso_in_zone(value: str, tz: tzinfo) -> datetime | None:
    """An ISO time, read in ``tz`` when it names no zone; None when ``value`` is not ISO.

    How a person's typed time is read, by the CLI's ``--at`` and by casework; each caller
    says in its own words what was wrong with a value that is not one.
    """
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at.replace(tzinfo=tz) if at.tzinfo is None else at
