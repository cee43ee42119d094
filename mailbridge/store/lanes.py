"""The two look-ups intake needs to pick a message's lane (reading/lanes.py, issue 18).

Both read whole small sets (every carer address in the directory, every open episode's
reference) so intake can cache them and decide each message's lane with no query at all.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.store.models import Child, Episode


def carer_addresses(session: Session) -> set[str]:
    """Every carer address in the directory, lower-cased."""
    found: set[str] = set()
    for (emails,) in session.execute(select(Child.carer_emails)):
        found.update(str(e).strip().lower() for e in emails or () if e)
    return found


def live_references(session: Session) -> set[str]:
    """The references of the episodes still open (upper-case, as episodes store them)."""
    return set(session.scalars(select(Episode.reference).where(Episode.status == "open")))
