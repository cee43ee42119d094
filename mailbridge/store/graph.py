"""The Graph reader's state: the delta link per mailbox folder, the one-reader lock, the
placeholder stored for a message whose MIME Graph will not hand over, and how the reader last
fared (its last completed round and last error, a ``service_facts`` row written by the reader
that holds the mailbox), read by `mailbridge status` and /healthz in any instance.

The delta link is saved only after a round's messages are committed and moved, so a crash
replays the round from the previous link (intake records the repeats as duplicates). On
PostgreSQL a session-level advisory lock per mailbox, on a connection of its own, lets one of
several ``serve`` processes read; on SQLite there is one process and no lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from mailbridge.store import advisory, imap_state, inbound, service
from mailbridge.store.models import GraphState

#: the service fact holding the reader's last round and last error (JSON)
READER_FACT = "graph_reader"


def state_key(mailbox: str, folder: str) -> str:
    """The ``graph_state`` key (and the lock's name) of a mailbox folder as configured."""
    return f"graph:{mailbox}/{folder}"


@dataclass(frozen=True)
class ReaderStatus:
    """How the Graph reader of one mailbox folder stands, as the store knows it."""

    key: str
    delta_saved_at: datetime | None  # when the delta link was last saved (its age)
    last_round_at: datetime | None  # the last round that reached the delta link
    last_error: str | None  # the last error line of a round, and when
    last_error_at: datetime | None


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


def record(engine: Engine, key: str, now: datetime, *, error: str | None = None) -> None:
    """A completed round (``error`` None) or a failed one, kept for `status` and /healthz; the
    last error stays, with its time, after later rounds succeed."""
    with Session(engine) as session, session.begin():
        fact = _reader_fact(session, key)
        if error is None:
            fact["last_round_at"] = now.isoformat()
        else:
            fact["last_error"], fact["last_error_at"] = error[:500], now.isoformat()
        service.set_fact(session, READER_FACT, json.dumps(fact), now)


def _reader_fact(session: Session, key: str) -> dict[str, str | None]:
    try:
        fact = json.loads(service.get_fact(session, READER_FACT) or "{}")
    except ValueError:
        fact = {}
    if not isinstance(fact, dict) or fact.get("key") != key:
        fact = {"key": key}  # another folder was read before: its figures do not apply
    return fact


def status(session: Session, key: str) -> ReaderStatus:
    row = session.scalars(select(GraphState).where(GraphState.mailbox == key)).first()
    fact = _reader_fact(session, key)

    def moment(name: str) -> datetime | None:
        value = fact.get(name)
        return datetime.fromisoformat(value) if value else None

    return ReaderStatus(
        key=key,
        delta_saved_at=row.updated_at if row is not None else None,
        last_round_at=moment("last_round_at"),
        last_error=fact.get("last_error") or None,
        last_error_at=moment("last_error_at"),
    )


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
