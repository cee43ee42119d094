"""The Graph reader's state: the delta link per mailbox folder, and the one-reader lock.

The delta link is saved only after a round's messages are committed and moved, so a crash
replays the round from the previous link (intake records the repeats as duplicates). On
PostgreSQL a session-level advisory lock per mailbox, on a connection of its own, lets one of
several ``serve`` processes read; on SQLite there is one process and no lock.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.orm import Session

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
    digest = hashlib.sha256(f"mailbridge-graph:{mailbox}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def needs_lock(engine: Engine) -> bool:
    """Only PostgreSQL is shared by several processes; SQLite has one process and no lock."""
    return engine.dialect.name == "postgresql"


def try_lock(engine: Engine, mailbox: str) -> Connection | None:
    """PostgreSQL: the connection holding the mailbox's advisory lock, or None if another
    process holds it."""
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = bool(conn.execute(select(func.pg_try_advisory_lock(lock_key(mailbox)))).scalar())
    except BaseException:
        conn.invalidate()
        conn.close()
        raise
    if not got:
        conn.close()
        return None
    return conn


def release(conn: Connection) -> None:
    """Closing the DBAPI connection releases a session-level lock for certain."""
    with suppress(Exception):
        conn.invalidate()
    with suppress(Exception):
        conn.close()
