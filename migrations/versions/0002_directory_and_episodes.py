"""directory and episodes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:15:06.481389
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "placements",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("placement_type", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placements")),
        sa.UniqueConstraint("name", name=op.f("uq_placements_name")),
    )
    op.create_table(
        "reference_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_reference_counters")),
    )
    op.create_table(
        "children",
        sa.Column("child_id", sa.String(length=40), nullable=False),
        sa.Column("first_name", sa.String(length=120), nullable=False),
        sa.Column("last_name", sa.String(length=120), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column(
            "placement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("carer_emails", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["placements.id"],
            name=op.f("fk_children_placement_id_placements"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("child_id", name=op.f("pk_children")),
    )
    op.create_table(
        "allocations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("child_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["children.child_id"],
            name=op.f("fk_allocations_child_id_children"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
    )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_allocations_child_role", ["child_id", "role", "valid_to"], unique=False
        )

    op.create_table(
        "episodes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("child_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_text", sa.Text(), nullable=True),
        sa.Column("last_seen_location", sa.Text(), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_by", sa.Text(), nullable=True),
        sa.Column("safe_and_well", sa.Boolean(), nullable=True),
        sa.Column("police_reference", sa.String(length=200), nullable=True),
        sa.Column("risk_level", sa.String(length=16), nullable=True),
        sa.Column("risk_notes", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("clothing", sa.Text(), nullable=True),
        sa.Column("reported_by", sa.String(length=320), nullable=True),
        sa.Column("reporter_name", sa.String(length=200), nullable=True),
        sa.Column("reporter_phone", sa.String(length=60), nullable=True),
        sa.Column("sender_known", sa.Boolean(), nullable=False),
        sa.Column("child_name_given", sa.String(length=240), nullable=True),
        sa.Column("match_method", sa.String(length=40), nullable=True),
        sa.Column("match_confidence", sa.Float(), nullable=True),
        sa.Column("allocations", sa.JSON(), nullable=False),
        sa.Column("absence_type", sa.String(length=1), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["children.child_id"],
            name=op.f("fk_episodes_child_id_children"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_episodes")),
        sa.UniqueConstraint("reference", name=op.f("uq_episodes_reference")),
    )
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_episodes_child_id"), ["child_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_episodes_status"), ["status"], unique=False)

    op.create_table(
        "episode_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "episode_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "inbound_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["episode_id"],
            ["episodes.id"],
            name=op.f("fk_episode_messages_episode_id_episodes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inbound_id"],
            ["inbound_messages.id"],
            name=op.f("fk_episode_messages_inbound_id_inbound_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_episode_messages")),
        sa.UniqueConstraint(
            "episode_id", "inbound_id", name=op.f("uq_episode_messages_episode_id")
        ),
    )
    with op.batch_alter_table("episode_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_episode_messages_episode_id"), ["episode_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_episode_messages_inbound_id"), ["inbound_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("episode_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_episode_messages_inbound_id"))
        batch_op.drop_index(batch_op.f("ix_episode_messages_episode_id"))

    op.drop_table("episode_messages")
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_episodes_status"))
        batch_op.drop_index(batch_op.f("ix_episodes_child_id"))

    op.drop_table("episodes")
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_allocations_child_role")

    op.drop_table("allocations")
    op.drop_table("children")
    op.drop_table("reference_counters")
    op.drop_table("placements")
