"""The report's read snapshot, and the figures that belong to no day of the period.

Both ways of working out a report (the daily rollups and the full scan) read in one
:func:`snapshot` and read these figures live: who is missing at the report's ``now``
(:func:`missing_now`) and the inbound messages of the period that failed (:func:`failed`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, cast, distinct, exists, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from mailbridge.reports.figures import VOID, Failed, Period
from mailbridge.store import db
from mailbridge.store.models import FAILED, AuditEntry, Episode, InboundMessage
from mailbridge.store.sqltime import SqlTime


@contextmanager
def snapshot(engine: Engine) -> Iterator[Session]:
    """One snapshot for every figure, never committed.

    On SQLite a deferred BEGIN, so intake is not held up; PostgreSQL's default READ COMMITTED
    would give each statement its own snapshot, so REPEATABLE READ. The temporary tables of a
    full scan are made in this transaction: the rollback removes them, on both databases, and
    leaves the pooled connection clean even after an error.
    """
    options: dict[str, Any] = {db.READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    with engine.connect().execution_options(**options) as conn:
        if conn.dialect.name == "sqlite":
            _sqlite_for_reading(conn)
        try:
            with Session(bind=conn) as session:
                yield session
        finally:
            conn.rollback()


def sql_time(t: Session, tz: Any, first: date, last: date, now: datetime) -> SqlTime:
    """The date arithmetic for starts from ``first`` and returns and deadlines up to ``now``."""
    last = max(last, now.date()) + timedelta(days=40)
    return SqlTime(t.get_bind().dialect.name, tz, first - timedelta(days=2), last)


def _sqlite_for_reading(conn: Connection) -> None:
    """Temporary tables in memory, and the file read through mmap; before BEGIN, as SQLite asks.

    Set on this pooled connection for good: harmless for the writers that may reuse it.
    """
    raw: Any = conn.connection.dbapi_connection
    raw.execute("PRAGMA temp_store=MEMORY")
    raw.execute("PRAGMA mmap_size=268435456")


def count_if(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def missing_now(conn: Connection | Session, now: datetime) -> tuple[int, int]:
    """Children (distinct) and unmatched episodes open at ``now``, whenever they started:
    opened by then and not returned by then, void ones aside."""
    open_now = and_(
        Episode.status != VOID,
        Episode.opened_at <= now,
        or_(Episode.returned_at.is_(None), Episode.returned_at > now),
    )
    # In the aggregates, not the WHERE: a range on opened_at would lead SQLite through its
    # index row by row, when nearly every row matches and a plain scan is ten times faster.
    row = conn.execute(
        select(
            func.count(distinct(case((open_now, Episode.child_id), else_=None))),
            count_if(and_(open_now, Episode.child_id.is_(None))),
        )
    ).one()
    return int(row[0]), int(row[1])


def failed(conn: Connection | Session, period: Period) -> Failed:
    """Inbound messages received in the period that ended ``failed`` at least once."""
    m = InboundMessage
    failed_once = exists().where(
        AuditEntry.entity == "message",
        AuditEntry.entity_id == cast(m.id, String),
        AuditEntry.action == FAILED,
    )
    row = conn.execute(
        select(
            func.count(),
            count_if(m.status == FAILED),
            count_if(m.status == "processed"),
            count_if(m.status == "ignored"),
            count_if(m.status == "pending"),
        ).where(
            m.received_at >= period.start_utc,
            m.received_at < period.end_utc,
            or_(m.status == FAILED, failed_once),
        )
    ).one()
    return Failed(*(int(x) for x in row))
