"""The full scan's temporary tables: the period's episodes, their durations, children and
acknowledgement waits, made and filled once per report.

Why a module of its own: ``store/figures.py`` reads every figure of the full scan from these
tables. What each row holds, which indexes are made after the rows are in, and when PostgreSQL
needs ``ANALYZE`` before it can plan a join on them are one job (filling the working set); the
figures' queries over them are another.

The tables are ``TEMPORARY``: made in the report's read snapshot (``store/reporting.snapshot``),
whose rollback removes them on both databases. :func:`fill` works every episode's start out in
local seconds (``sqltime``) once, instead of once per figure.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import Connection

from mailbridge.reports.figures import ACK_ROLES, UNMATCHED_METHODS, VOID, Period
from mailbridge.store.models import (
    Acknowledgement,
    Alert,
    BigId,
    Child,
    Episode,
    UTCDateTime,
)
from mailbridge.store.sqltime import SqlTime

_TEMP = MetaData()
# The period's episodes with what every figure needs, computed once (local times included).
EP = Table(
    "mb_report_ep",
    _TEMP,
    Column("id", BigId, primary_key=True, autoincrement=False),
    Column("child_id", String(40)),
    Column("first_unmatched", Integer),
    Column("police", Integer),
    Column("returned", Integer),
    Column("secs", Float),
    Column("start", UTCDateTime),
    Column("local", BigInteger),  # local seconds of the start (sqltime)
    Column("ymd", Integer),  # local date of the start, YYYYMMDD
    prefixes=["TEMPORARY"],
)
# The valid durations (returned, not before the start), in seconds.
DUR = Table("mb_report_dur", _TEMP, Column("secs", Float), prefixes=["TEMPORARY"])
# The period's matched children: episodes and first start, for the repeat and placement figures.
CHILD = Table(
    "mb_report_child",
    _TEMP,
    Column("child_id", String(40), primary_key=True),
    Column("n", Integer),
    Column("first", UTCDateTime),
    Column("dob", Integer),  # date of birth, YYYYMMDD
    Column("placement_id", BigId),
    prefixes=["TEMPORARY"],
    # SQLite: the age figure looks children up by child_id, in one tree instead of two.
    sqlite_with_rowid=False,
)
# Seconds from the first alert to the first acknowledgement, per acknowledged episode and role.
ACKED = Table(
    "mb_report_acked",
    _TEMP,
    Column("role", String(40)),
    Column("wait", Float),
    prefixes=["TEMPORARY"],
)


def fill(conn: Connection, st: SqlTime, period: Period, now: datetime) -> None:
    """Make and fill the four tables for ``period`` as of ``now``, in ``conn``'s transaction.

    Indexes on the tables are made after they are filled (one sort, not 100,000 inserts into a
    tree); the percentiles of ``store/figures.py`` read them.
    """
    _fill_episodes(conn, st, period, now)
    _fill_children(conn, st)
    _fill_acked(conn, st)


def _fill_episodes(conn: Connection, st: SqlTime, period: Period, now: datetime) -> None:
    start = func.coalesce(Episode.last_seen_at, Episode.opened_at)
    returned = and_(Episode.returned_at.is_not(None), Episode.returned_at <= now)
    source = select(
        Episode.id,
        Episode.child_id,
        case(
            (
                or_(Episode.match_method.in_(UNMATCHED_METHODS), Episode.child_id.is_(None)),
                1,
            ),
            else_=0,
        ),
        case(
            (and_(Episode.police_reference.is_not(None), Episode.police_reference != ""), 1),
            else_=0,
        ),
        case((returned, 1), else_=0),
        case((returned, st.seconds(Episode.returned_at) - st.seconds(start)), else_=None),
        start,
        st.local_seconds(start),
        st.local_ymd(start),
    ).where(
        start >= period.start_utc,
        start < period.end_utc,
        # A void episode was never a missing episode (docs/casework.md): in no figure.
        Episode.status != VOID,
    )
    EP.create(conn)
    conn.execute(insert(EP).from_select([c.name for c in EP.columns], source))
    _analyze(conn, st, EP)
    # The valid durations, indexed for the percentiles. A table of their own: an index on
    # mb_report_ep would be scanned in its order by the joins, jumping about the joined
    # tables instead of reading them in episode order.
    ep = EP
    valid = select(ep.c.secs).where(ep.c.returned == 1, ep.c.secs >= 0)
    DUR.create(conn)
    conn.execute(insert(DUR).from_select(["secs"], valid))
    conn.exec_driver_sql(f"CREATE INDEX {DUR.name}_secs ON {DUR.name} (secs)")


def _fill_children(conn: Connection, st: SqlTime) -> None:
    """One GROUP BY child, with the child's birth date and placement (read per child).

    The ages and placements then join this table, not ``children``: the directory is
    read once per child, not once per episode.
    """
    ep = EP
    per = (
        select(ep.c.child_id, func.count().label("n"), func.min(ep.c.start).label("first"))
        .where(ep.c.child_id.is_not(None))
        .group_by(ep.c.child_id)
        .subquery()
    )
    source = select(
        per.c.child_id,
        per.c.n,
        per.c.first,
        st.date_ymd(Child.date_of_birth),
        Child.placement_id,
    ).outerjoin(Child, Child.child_id == per.c.child_id)
    CHILD.create(conn)
    columns = ["child_id", "n", "first", "dob", "placement_id"]
    conn.execute(insert(CHILD).from_select(columns, source))
    _analyze(conn, st, CHILD)


def _fill_acked(conn: Connection, st: SqlTime) -> None:
    """First alert to first acknowledgement, only for the pairs with an acknowledgement.

    The acknowledgements (one per episode and role at most, fewer than the alerts) lead:
    each finds its first alert through the alerts' episode index, instead of a GROUP BY
    over every alert of the period.
    """
    ep = EP
    ack = Acknowledgement
    acked = (
        select(ack.episode_id, ack.role, func.min(ack.at).label("at"))
        .join(ep, ep.c.id == ack.episode_id)
        .where(ack.role.in_(ACK_ROLES))
        .group_by(ack.episode_id, ack.role)
        .subquery()
    )
    source = (
        select(acked.c.role, st.seconds(acked.c.at) - st.seconds(func.min(Alert.created_at)))
        .select_from(acked)
        .join(Alert, and_(Alert.episode_id == acked.c.episode_id, Alert.role == acked.c.role))
        .group_by(acked.c.episode_id, acked.c.role, acked.c.at)
    )
    ACKED.create(conn)
    conn.execute(insert(ACKED).from_select(["role", "wait"], source))
    name = ACKED.name
    conn.exec_driver_sql(f"CREATE INDEX {name}_wait ON {name} (role, wait)")
    _analyze(conn, st, ACKED)


def _analyze(conn: Connection, st: SqlTime, table: Table) -> None:
    """PostgreSQL plans joins on a temporary table blind until it has statistics."""
    if st.postgres:
        conn.exec_driver_sql(f"ANALYZE {table.name}")
