"""dataclips: chart settings and "forked from" on the clip, the latest result kept

Revision ID: 0007_dataclip_editor
Revises: 0002_dataclips
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_dataclip_editor"
down_revision = "0002_dataclips"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataclips", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chart", sa.Text(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("forked_from", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_dataclips_forked_from", "dataclips", ["forked_from"], ["id"], ondelete="SET NULL"
        )
    op.create_table(
        "dataclip_results",
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("ran_at", sa.Float(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["clip_id"], ["dataclips.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("clip_id"),
    )


def downgrade() -> None:
    op.drop_table("dataclip_results")
    with op.batch_alter_table("dataclips", schema=None) as batch_op:
        batch_op.drop_constraint("fk_dataclips_forked_from", type_="foreignkey")
        batch_op.drop_column("forked_from")
        batch_op.drop_column("chart")
