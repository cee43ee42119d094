"""The Graph reader's state: the delta link per mailbox folder, the one-reader lock, and the
placeholder stored for a message whose MIME Graph will not hand over.

The delta link is saved only after a round's messages are committed and moved, so a crash
replays the round from the previous link (intake records the repeats as duplicates). On
PostgreSQL a session-level advisory lock per mailbox, on a connection of its own, lets one of
several ``serve`` processes read; on SQLite there is one process and no lock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from mailbridge.store import advisory, imap_state, inbound
from mailbridge.store.models import GraphState


def load_delta(engine: Engine, mailbox: str) -> str | None:
    with Session(engine) as session:
        row = session.scalars(select(GraphState).where(GraphState.mailbox == mailbox)).first()
        return row.delta_link if row is not None else None


def save_delta(engine: Engine, mailbox: str, delta_link: str, now: datetime) -> None:
    with Session(engine) as session, session.begin():
        row = session.scalars(
            select(GraphState).where(GraphState.mailbox == mailbox).with_for_update()
        ).first()
        if row is None:
            session.add(GraphState(mailbox=mailbox, delta_link=delta_link, updated_at=now))
        else:
            row.delta_link = delta_link
            row.updated_at = now


def clear_delta(engine: Engine, mailbox: str) -> None:
    """Graph answered 410 (the sync state is gone): the next round reads the whole folder."""
    with Session(engine) as session, session.begin():
        session.execute(delete(GraphState).where(GraphState.mailbox == mailbox))


def lock_key(mailbox: str) -> int:
    return advisory.key_of("mailbridge-graph", mailbox)


def try_lock(engine: Engine, mailbox: str) -> advisory.Lock | None:
    """PostgreSQL: the connection holding the mailbox's advisory lock, or None if another
    process holds it."""
    return advisory.try_lock(engine, lock_key(mailbox))


def store_unfetchable(
    session: Session,
    incoming: inbound.Incoming,
    *,
    note: str,
    now: datetime,
    gave_up: imap_state.GaveUp | None,
) -> tuple[inbound.Stored, bool]:
    """The placeholder of a message set aside, stored as failed (the duty desk is told once),
    as the IMAP watcher stores one; (its row, duty desk alerted)."""
    return imap_state.store_unfetchable(
        session, incoming, note=note, now=now, gave_up=gave_up, actor="graph"
    )
