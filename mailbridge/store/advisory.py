"""Session-level advisory locks, each on a connection of its own: one of several ``serve``
processes does a job (watch an IMAP mailbox, read a Graph mailbox), another takes over when it
dies.

Only PostgreSQL is shared by several processes; on SQLite there is one process and no lock. The
lock lives as long as its connection, so it is held on a dedicated AUTOCOMMIT connection and
released by closing that connection (which releases a session-level lock for certain, whatever
state the session is in).
"""

from __future__ import annotations

import hashlib
from contextlib import suppress

from sqlalchemy import Connection, Engine, func, select, text

#: a held lock: outside store/, an opaque handle for :func:`check` and :func:`release`
Lock = Connection


def needed(engine: Engine) -> bool:
    """True when several processes may share this database (PostgreSQL)."""
    return engine.dialect.name == "postgresql"


def key_of(namespace: str, name: str) -> int:
    """A signed 64-bit lock key, stable across processes and machines."""
    digest = hashlib.sha256(f"{namespace}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def try_lock(engine: Engine, key: int) -> Lock | None:
    """The connection holding the advisory lock ``key``, or None if another process holds it."""
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = bool(conn.execute(select(func.pg_try_advisory_lock(key))).scalar())
    except BaseException:
        conn.invalidate()
        conn.close()
        raise
    if not got:
        conn.close()
        return None
    return conn


def check(lock: Lock) -> None:
    """Raise the database's error if the connection holding the lock is gone."""
    lock.execute(text("SELECT 1"))


def release(lock: Lock) -> None:
    """Close the lock's connection; never raises."""
    with suppress(Exception):
        lock.invalidate()
    with suppress(Exception):
        lock.close()
