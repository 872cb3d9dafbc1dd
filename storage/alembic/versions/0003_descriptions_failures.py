"""Posts carry a plain-text summary (``description``); runs count near-duplicates;
``failures`` keeps what each run could not fetch or parse, and why.

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

    op.create_table(
        "failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("qupost_id", sa.String(32), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_failures_run_id", "failures", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_failures_run_id", "failures")
    op.drop_table("failures")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("articles_duplicate")
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("description")
