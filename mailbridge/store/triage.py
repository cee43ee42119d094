"""The SQL of the triage list: is a sender known, which messages wait for the hourly summary.

Mail that is not a report, from a sender who is neither a carer nor staff, is not alerted one
by one (a spam run of 1,500 messages was 3,000 alerts): it is stored as usual, marked by its
reason (``triage: ...``), listed by `mailbridge messages --triage`, and summarised to the duty
desk once per `processing.triage_summary_minutes`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbridge.directory.records import normalise_address
from mailbridge.store.directory import children_for_sender
from mailbridge.store.models import IGNORED, Alert, Allocation, InboundMessage

# The reason of a message put on the triage list starts with this.
PREFIX = "triage: "


def known_sender(
    session: Session, address: str | None, *, staff: Collection[str], staff_domains: Collection[str]
) -> str | None:
    """'carer' or 'staff' when the directory, the routing roles or our domain know the sender."""
    addr = normalise_address(address or "")
    if not addr:
        return None
    if children_for_sender(session, addr):
        return "carer"
    if addr in staff or addr.rpartition("@")[2] in staff_domains:
        return "staff"
    found = session.scalar(
        select(Allocation.id).where(func.lower(Allocation.email) == addr).limit(1)
    )
    return "staff" if found is not None else None


def waiting(session: Session, since: datetime, until: datetime) -> list[InboundMessage]:
    """Messages put on the triage list with a receipt time in [since, until), oldest first."""
    return list(
        session.scalars(
            select(InboundMessage)
            .where(
                InboundMessage.status == IGNORED,
                InboundMessage.received_at >= since,
                InboundMessage.received_at < until,
                InboundMessage.reason.like(PREFIX + "%"),
            )
            .order_by(InboundMessage.id)
        )
    )


def sent_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these alert event keys already have rows (a summary sent or queued)."""
    if not keys:
        return set()
    return set(session.scalars(select(Alert.event_key).where(Alert.event_key.in_(keys))))
