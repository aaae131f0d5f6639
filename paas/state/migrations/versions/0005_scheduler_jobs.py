"""scheduler_jobs: Heroku Scheduler jobs, one row per job (cascades with its app and add-on)

Revision ID: 0005_scheduler_jobs
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_scheduler_jobs"
down_revision = "0001_initial"
branch_labels = ("scheduler",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("addon_id", sa.String(length=36), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("every", sa.Integer(), nullable=False),
        sa.Column("at", sa.Integer(), nullable=False),
        sa.Column("dyno_size", sa.String(length=30), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_dyno", sa.String(length=40), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["addon_id"], ["addons.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scheduler_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scheduler_jobs_app_id"), ["app_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scheduler_jobs_addon_id"), ["addon_id"], unique=False)


def downgrade() -> None:
    op.drop_table("scheduler_jobs")
