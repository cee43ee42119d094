"""The transaction handle the rest of mailbridge holds, and the two ways to open one.

Code outside ``store/`` never imports SQLAlchemy (issue 14; ``tests/unit/test_store_gateway.py``).
It opens a transaction with :func:`write` or :func:`read`, passes the :data:`Tx` it gets to the
named queries of ``store/`` and never queries it itself. ``Tx`` is SQLAlchemy's Session under
another name, so the queries keep the ORM; only its owner changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

#: one open transaction (or a read-only session); outside store/, an opaque handle
Tx = Session
#: what any query raises when the database fails (connection lost, constraint, timeout)
DatabaseError = SQLAlchemyError

__all__ = ["DatabaseError", "Engine", "Tx", "read", "write"]


@contextmanager
def write(engine: Engine) -> Iterator[Tx]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with Session(engine) as session, session.begin():
        yield session


@contextmanager
def read(engine: Engine) -> Iterator[Tx]:
    """A session for reading only; nothing it does is committed."""
    with Session(engine) as session:
        yield session
