"""graph_state: the Microsoft Graph reader's delta link per mailbox folder

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:05:00

The Graph ingress reads a folder by delta query. The delta link is where the next round starts;
it is saved only after every message of the round is committed and moved, as imap_state's
last_uid is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "graph_state",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("mailbox", sa.String(length=500), nullable=False),
        sa.Column("delta_link", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_state")),
        sa.UniqueConstraint("mailbox", name=op.f("uq_graph_state_mailbox")),
    )


def downgrade() -> None:
    op.drop_table("graph_state")
