"""Posts carry a plain-text summary (``description``); runs count near-duplicates.

Rows stored before this revision get an empty description; the renderer
derives one from the stored body until a refresh stores it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("articles_duplicate", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("articles_duplicate")
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("description")
