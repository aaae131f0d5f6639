"""log drains and app webhooks

Revision ID: 0007_drains_webhooks
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_drains_webhooks"
down_revision = "0001_initial"
branch_labels = ("drains",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_drains",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "url"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("log_drains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_log_drains_app_id"), ["app_id"], unique=False)

    op.create_table(
        "app_webhooks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("include", sa.JSON(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("authorization", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("app_webhooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_webhooks_app_id"), ["app_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("app_webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_webhooks_app_id"))
    op.drop_table("app_webhooks")
    with op.batch_alter_table("log_drains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_drains_app_id"))
    op.drop_table("log_drains")
