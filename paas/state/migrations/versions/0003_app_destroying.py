"""apps.destroying: an app whose destruction started (the next start finishes it after a crash)

Revision ID: 0003_app_destroying
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_app_destroying"
down_revision = "0001_initial"
branch_labels = ("control",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("destroying", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("destroying")
