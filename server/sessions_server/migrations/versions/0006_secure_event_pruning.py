"""Put events_pruned under row security; let a maintenance role prune events.

Revision ID: 0006

`events_pruned` gets the owner policy of every other table. The retention prune is
the one statement that spans owners, so it runs as its own role,
`<service role>_maintenance`, which a policy admits to all rows of `events` and
`events_pruned` and to nothing else: the service role stays confined to one owner.
"""

from alembic import op

from sessions_server.config import maintenance_role
from sessions_server.migrations.roles import (
    create_role,
    isolate_by_owner,
    revoke_schema,
    service_role,
    stop_isolating,
)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    isolate_by_owner("events_pruned")
    role = service_role()
    if not role:
        return
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON events_pruned TO {role}")
    maintenance = maintenance_role(role)
    create_role(maintenance)
    op.execute(f"GRANT SELECT, DELETE ON events TO {maintenance}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON events_pruned TO {maintenance}")
    for table in ("events", "events_pruned"):
        op.execute(f"CREATE POLICY prune ON {table} TO {maintenance} USING (true)")


def downgrade() -> None:
    stop_isolating("events_pruned")
    role = service_role()
    if not role:
        return
    maintenance = maintenance_role(role)
    for table in ("events", "events_pruned"):
        op.execute(f"DROP POLICY IF EXISTS prune ON {table}")
    op.execute(f"REVOKE ALL ON events, events_pruned FROM {maintenance}")
    op.execute(f"REVOKE ALL ON events_pruned FROM {role}")
    revoke_schema(maintenance)
