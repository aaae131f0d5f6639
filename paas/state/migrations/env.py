from alembic import context

import paas.addons.pgbackups.models  # pg:backups tables
import paas.dataclips.models  # noqa: F401  (dataclips tables)
from paas.state.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
