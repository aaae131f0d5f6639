from alembic import context

import paas.addons.pgbackups.models  # pg:backups tables
import paas.dataclips.models  # noqa: F401  (dataclips tables)
from paas.autoscale.models import AutoscaleMonitor
from paas.scheduler.models import SchedulerJob
from paas.state.models import Base

PART_TABLES = (AutoscaleMonitor, SchedulerJob)  # imported for their tables on Base.metadata
target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
