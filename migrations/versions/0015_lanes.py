"""priority lanes on inbound_messages and alerts

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 13:00:00

Issue 18: every inbound message and every alert row carries a small-int ``lane`` decided at
intake (1 known carers and live threads, 2 other new mail, 3 backlog and replays). Workers and
senders claim in lane order, then age; the indexes serve exactly those claims. Rows from before
this revision are lane 2, the lane they were effectively in (first in, first out).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        batch.add_column(
            sa.Column("lane", sa.SmallInteger(), nullable=False, server_default=sa.text("2"))
        )
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(
            sa.Column("lane", sa.SmallInteger(), nullable=False, server_default=sa.text("2"))
        )
    op.create_index(
        "ix_inbound_messages_status_lane", "inbound_messages", ["status", "lane", "id"]
    )
    op.create_index("ix_alerts_status_lane", "alerts", ["status", "lane", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_status_lane", table_name="alerts")
    op.drop_index("ix_inbound_messages_status_lane", table_name="inbound_messages")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("lane")
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_column("lane")
