"""Near-duplicate stories: each post's text fingerprint, what it duplicates, and the index.

``posts.fingerprint`` holds the MinHash signature of the post's text and
``posts.duplicate_of`` the post that told the same story first.
``post_bands`` indexes the signature bands of first-telling posts, and
``shared_lines`` counts the lines a source opens or closes its posts with, so
its boilerplate is left out of the comparison.  Posts stored before this
revision have no fingerprint: they get one when next fetched with
``-a refresh=1``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("fingerprint", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("duplicate_of", sa.String(32), nullable=True))
    op.create_table(
        "post_bands",
        sa.Column("key", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column(
            "post_id",
            sa.Integer(),
            sa.ForeignKey("posts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key", "post_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "shared_lines",
        sa.Column("key", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("posts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("shared_lines")
    op.drop_table("post_bands")
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("duplicate_of")
        batch.drop_column("fingerprint")
