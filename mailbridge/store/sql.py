"""The two statements every table family needs, written once for SQLite and PostgreSQL.

``insert_ignore`` is the idempotent insert (``INSERT ... ON CONFLICT DO NOTHING``): the unique
key, not a prior SELECT, decides who was first, so a replay or a second instance inserts
nothing. ``claim`` locks the rows a worker takes (``FOR UPDATE SKIP LOCKED``): on PostgreSQL two
instances never take the same row and never wait for each other; on SQLite it compiles to a plain
SELECT, since BEGIN IMMEDIATE already serialises writers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

T = TypeVar("T")


# (dialect, table, key) -> the statement: built once, it keeps its own cache key, so an
# executemany of it (an event's alert rows) is neither rebuilt nor keyed again. Statements are
# immutable: a caller's ``.values(...)`` makes a new one.
_IGNORING: dict[tuple[str, Any, tuple[str, ...] | None], Any] = {}


def insert_ignore(session: Session, target: Any, *, key: Sequence[str] | None = None) -> Any:
    """An INSERT into ``target`` (a model or Table) that does nothing on a conflict of ``key``
    (the columns of a unique constraint; None: any conflict)."""
    table: Table | Any = getattr(target, "__table__", target)
    dialect = session.get_bind().dialect.name
    cache_key = (dialect, table, tuple(key) if key else None)
    statement = _IGNORING.get(cache_key)
    if statement is None:
        make = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = make(table).on_conflict_do_nothing(index_elements=list(key) if key else None)
        _IGNORING[cache_key] = statement
    return statement


def claim(session: Session, query: Select[T], *, limit: int) -> list[T]:
    """Lock and return up to ``limit`` rows of ``query`` that no other transaction holds."""
    return list(session.scalars(query.limit(limit).with_for_update(skip_locked=True)))
