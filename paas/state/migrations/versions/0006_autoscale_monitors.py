"""autoscale_monitors: web dyno autoscaling settings, one per app (cascades with its app)

Revision ID: 0006_autoscale_monitors
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_autoscale_monitors"
down_revision = "0001_initial"
branch_labels = ("autoscale",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "autoscale_monitors",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("process_type", sa.String(length=60), nullable=False),
        sa.Column("min_quantity", sa.Integer(), nullable=False),
        sa.Column("max_quantity", sa.Integer(), nullable=False),
        sa.Column("p95_ms", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("notifications", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id"),
    )


def downgrade() -> None:
    op.drop_table("autoscale_monitors")
