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


def insert_ignore(session: Session, target: Any, *, key: Sequence[str] | None = None) -> Any:
    """An INSERT into ``target`` (a model or Table) that does nothing on a conflict of ``key``
    (the columns of a unique constraint; None: any conflict)."""
    table: Table | Any = getattr(target, "__table__", target)
    make = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return make(table).on_conflict_do_nothing(index_elements=list(key) if key else None)


def claim(session: Session, query: Select[T], *, limit: int) -> list[T]:
    """Lock and return up to ``limit`` rows of ``query`` that no other transaction holds."""
    return list(session.scalars(query.limit(limit).with_for_update(skip_locked=True)))
