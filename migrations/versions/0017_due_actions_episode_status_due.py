"""due_actions: an index on (episode_id, status, due_at) for the Now page

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 16:10:00

Issue 16: the Now page reads each open episode's first pending escalation with a correlated
subquery (store/views.open_episodes). With only ``ix_due_actions_episode_id`` and
``ix_due_actions_status_due``, SQLite (no statistics) walks every pending action for each open
episode, and PostgreSQL before ANALYZE intersects two bitmaps; this index makes it one probe
per episode on both.
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_due_actions_episode_status_due", "due_actions", ["episode_id", "status", "due_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_due_actions_episode_status_due", table_name="due_actions")
