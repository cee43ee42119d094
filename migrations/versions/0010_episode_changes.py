"""episode_changes and episodes.merged_into: what staff changed by hand

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02 09:00:00

Casework (docs/casework.md) lets staff link, split, merge, void, close, reopen, correct and
confirm an episode. Every change is one row here with who, when, what, the old and new values
and the note they gave; a merged episode points at the one that survives.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "episode_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "episode_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=True),
        sa.Column("old", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"],
            ["episodes.id"],
            name=op.f("fk_episode_changes_episode_id_episodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_episode_changes")),
    )
    with op.batch_alter_table("episode_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_episode_changes_episode_id"), ["episode_id"], unique=False
        )
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("void_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_column("void_reason")
        batch_op.drop_column("merged_into")
    with op.batch_alter_table("episode_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_episode_changes_episode_id"))
    op.drop_table("episode_changes")
