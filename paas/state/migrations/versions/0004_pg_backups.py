"""pg:backups: transfers (backups, restores), per-app transfer counters, daily schedules

Revision ID: 0004_pg_backups
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_pg_backups"
down_revision = "0001_initial"
branch_labels = ("pgbackups",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pg_transfers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("num", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("scheduled", sa.Boolean(), nullable=False),
        sa.Column("addon_name", sa.String(length=100), nullable=False),
        sa.Column("from_name", sa.String(length=200), nullable=False),
        sa.Column("to_name", sa.String(length=200), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("source_bytes", sa.Integer(), nullable=False),
        sa.Column("processed_bytes", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("logs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "num"),
    )
    with op.batch_alter_table("pg_transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pg_transfers_app_id"), ["app_id"], unique=False)
    op.create_table(
        "pg_transfer_counters",
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("last_num", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("app_id"),
    )
    op.create_table(
        "pg_backup_schedules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("addon_name", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("addon_name"),
    )
    with op.batch_alter_table("pg_backup_schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pg_backup_schedules_app_id"), ["app_id"], unique=False)


def downgrade() -> None:
    op.drop_table("pg_backup_schedules")
    op.drop_table("pg_transfer_counters")
    with op.batch_alter_table("pg_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pg_transfers_app_id"))
    op.drop_table("pg_transfers")
