"""episodes: needs_confirmation and confirmation_reason

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 08:45:00

An episode whose reading was unsure (conflicting signals, a return from a sender who may not
close it) stays open and says so: staff confirm or correct it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "needs_confirmation", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("confirmation_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_column("confirmation_reason")
        batch_op.drop_column("needs_confirmation")
