"""smtp_reply_counts and service_facts

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 09:00:00

The listener's replies counted per hour and code (refusals were silent before), and facts a
running `serve` records for later commands (whether it has a relay).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smtp_reply_counts",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("own_domain", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "code", "own_domain", name=op.f("pk_smtp_reply_counts")),
    )
    op.create_table(
        "service_facts",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_service_facts")),
    )


def downgrade() -> None:
    op.drop_table("service_facts")
    op.drop_table("smtp_reply_counts")
