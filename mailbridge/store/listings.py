"""The rows the command line lists: the outbox, the return interviews and the digests sent.

Each is one read query for one `mailbridge` command (`alerts`, `interviews`, `digest`); the
command shapes the rows into its JSON and its terminal lines. Kept apart from ``views.py``,
which serves the web pages, because these lists are the CLI's public contract (DESIGN.md).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.store.models import Alert, DigestRun, Episode, Interview


def alerts(session: Session, *, status: str | None = None) -> list[tuple[Alert, str | None]]:
    """Every alert row in id order (only ``status`` if given), with its episode's reference."""
    q = (
        select(Alert, Episode.reference)
        .outerjoin(Episode, Episode.id == Alert.episode_id)
        .order_by(Alert.id)
    )
    if status:
        q = q.where(Alert.status == status)
    return [(alert, reference) for alert, reference in session.execute(q).all()]


def interviews(
    session: Session,
) -> list[tuple[Interview, str, str | None, datetime | None]]:
    """Every return interview, soonest due first: (interview, reference, child, returned_at)."""
    rows = session.execute(
        select(Interview, Episode.reference, Episode.child_id, Episode.returned_at)
        .join(Episode, Episode.id == Interview.episode_id)
        .order_by(Interview.due_at)
    ).all()
    return [(iv, reference, child, returned) for iv, reference, child, returned in rows]


def digests_sent(session: Session) -> dict[tuple[str, date], datetime]:
    """When each digest was sent, by (kind, first day of its period)."""
    rows = session.execute(select(DigestRun.kind, DigestRun.period_start, DigestRun.sent_at))
    return {(kind, start): when for kind, start, when in rows}
