"""review apps: a pipeline's review-app config and one review app per branch

Revision ID: 0007_review_apps
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_review_apps"
down_revision = "0001_initial"
branch_labels = ("reviewapps",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_app_configs",
        sa.Column(
            "pipeline_id", sa.String(36), sa.ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("automatic_review_apps", sa.Boolean(), nullable=False),
        sa.Column("destroy_stale_apps", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "review_apps",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "pipeline_id", sa.String(36), sa.ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("app_name", sa.String(30), nullable=False, unique=True),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("commit", sa.String(64), nullable=True),
        sa.Column("predestroy", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("pipeline_id", "branch"),
    )
    op.create_index("ix_review_apps_pipeline_id", "review_apps", ["pipeline_id"])


def downgrade() -> None:
    op.drop_index("ix_review_apps_pipeline_id", "review_apps")
    op.drop_table("review_apps")
    op.drop_table("review_app_configs")
