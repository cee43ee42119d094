"""report_marks, report_days, report_days_state, and the triggers that write the marks

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-02 13:00:00

The report's figures are rolled up per local day (store/rollups.py). A trigger on every table
the figures read through an episode (episodes, interviews, alerts, acknowledgements,
due_actions) records the episode's start in report_marks, in the same transaction as the change,
whatever code makes it: the report then recomputes only the days marked. Updates mark only when
a column the figures read changes (an alert's status does not).

Note for later migrations: on SQLite a batch copy of one of these tables drops its triggers;
tests/integration/test_rollups.py fails if a trigger is missing at head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

START = "coalesce({row}.last_seen_at, {row}.opened_at)"
# The columns each figure reads; an update of any other column changes no figure.
WATCHED = {
    "episodes": (
        "last_seen_at",
        "opened_at",
        "returned_at",
        "status",
        "child_id",
        "match_method",
        "police_reference",
        "placement_authority",
    ),
    "interviews": ("episode_id", "status", "held_on", "due_at", "reason_codes"),
    "alerts": ("episode_id", "role", "created_at"),
    "acknowledgements": ("episode_id", "role", "at"),
    "due_actions": ("episode_id", "kind", "status"),
}
JSON_COLUMNS = {("interviews", "reason_codes")}


def _changed(table: str, postgres: bool) -> str:
    terms = []
    for col in WATCHED[table]:
        old, new = f"OLD.{col}", f"NEW.{col}"
        if postgres and (table, col) in JSON_COLUMNS:
            old, new = f"{old}::text", f"{new}::text"
        terms.append(f"{old} IS DISTINCT FROM {new}" if postgres else f"{old} IS NOT {new}")
    return " OR ".join(terms)


def _marks(table: str, row: str) -> str:
    """The INSERT that marks the start of the episode ``row`` (OLD or NEW) is or belongs to."""
    if table == "episodes":
        return f"INSERT INTO report_marks (at) VALUES ({START.format(row=row)})"
    return (
        f"INSERT INTO report_marks (at) SELECT {START.format(row='e')} FROM episodes e "
        f"WHERE e.id = {row}.episode_id"
    )


def _sqlite() -> list[str]:
    out = []
    for table in WATCHED:
        name = f"mb_marks_{table}"
        out.append(
            f"CREATE TRIGGER {name}_ins AFTER INSERT ON {table} BEGIN {_marks(table, 'NEW')}; END"
        )
        out.append(
            f"CREATE TRIGGER {name}_del AFTER DELETE ON {table} BEGIN {_marks(table, 'OLD')}; END"
        )
        out.append(
            f"CREATE TRIGGER {name}_upd AFTER UPDATE ON {table} WHEN {_changed(table, False)} "
            f"BEGIN {_marks(table, 'OLD')}; {_marks(table, 'NEW')}; END"
        )
    return out


def _postgres() -> list[str]:
    out = []
    for table in WATCHED:
        name = f"mb_marks_{table}"
        out.append(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_marks(table, 'OLD')}; END IF; "
            f"IF TG_OP IN ('UPDATE', 'INSERT') THEN {_marks(table, 'NEW')}; END IF; "
            "RETURN NULL; END $$"
        )
        out.append(
            f"CREATE TRIGGER {name}_insdel AFTER INSERT OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {name}()"
        )
        out.append(
            f"CREATE TRIGGER {name}_upd AFTER UPDATE ON {table} FOR EACH ROW "
            f"WHEN ({_changed(table, True)}) EXECUTE FUNCTION {name}()"
        )
    return out


def upgrade() -> None:
    op.create_table(
        "report_marks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_marks")),
    )
    op.create_table(
        "report_days",
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("episodes", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tz", "day", name=op.f("pk_report_days")),
    )
    op.create_table(
        "report_days_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_days_state")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _postgres() if postgres else _sqlite():
        op.execute(statement)
    # Every episode that exists now is in no rollup yet: the first report rolls up every day
    # it covers (a day with no stored row is computed), so no marks are needed for them.


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        name = f"mb_marks_{table}"
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {name}_insdel ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {name}_upd ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            for suffix in ("ins", "del", "upd"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{suffix}")
    op.drop_table("report_days_state")
    op.drop_table("report_days")
    op.drop_table("report_marks")
