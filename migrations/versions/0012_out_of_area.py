"""children placed out of area: placement authority, postcode, profile; who holds interviews

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00

Children placed in another council's area (docs/out-of-area.md): the directory records the
placement authority, the placement's postcode and the Philomena profile document; an episode
keeps the authority it opened under (for the figures); an interview records which authority
holds it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("children", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placement_authority", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("placement_postcode", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("profile_file", sa.String(length=500), nullable=True))
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placement_authority", sa.String(length=200), nullable=True))
    with op.batch_alter_table("interviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("by_authority", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interviews", schema=None) as batch_op:
        batch_op.drop_column("by_authority")
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_column("placement_authority")
    with op.batch_alter_table("children", schema=None) as batch_op:
        batch_op.drop_column("profile_file")
        batch_op.drop_column("placement_postcode")
        batch_op.drop_column("placement_authority")
