"""The database's failures, named for code outside store/ that must tell them apart.

Outside store/ nothing imports SQLAlchemy (issue 14); a loop that must survive an outage, or
answer "try later", catches these tuples instead.
"""

from __future__ import annotations

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

#: any failure of the database or of a statement
DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError,)
#: the database itself cannot be reached (leave the claim; retry later)
UNREACHABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
