"""dataclips: clips and their version history

Revision ID: 0002_dataclips
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_dataclips"
down_revision = "0001_initial"
branch_labels = ("dataclips",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataclips",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=28), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dataclips", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dataclips_slug"), ["slug"], unique=True)

    op.create_table(
        "dataclip_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["clip_id"], ["dataclips.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clip_id", "number"),
    )
    with op.batch_alter_table("dataclip_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dataclip_versions_clip_id"), ["clip_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dataclip_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataclip_versions_clip_id"))
    op.drop_table("dataclip_versions")
    with op.batch_alter_table("dataclips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataclips_slug"))
    op.drop_table("dataclips")
