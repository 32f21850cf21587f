"""Enable row-level security: the service role sees only the rows of its owner.

Revision ID: 0004

The service acts as a role (`SESSIONS_DATABASE_ROLE`, default `sessions_app`) that
neither owns the tables nor bypasses row security. Every transaction names its
owner in `sessions.owner` (`Store.scope`), and a policy on every table admits only
rows of that owner, for reading and for writing: a query that forgot its owner
filter still touches nothing of another owner. FORCE subjects the tables' owner to
the policies too; superusers are exempt, which is why the service switches role.
TRUNCATE, which ignores row security, is not granted.
"""

from alembic import op

from sessions_server.migrations.roles import (
    create_role,
    isolate_by_owner,
    revoke_schema,
    service_role,
    stop_isolating,
)

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("sessions", "messages", "request_ids", "events")


def upgrade() -> None:
    role = service_role()
    if role:
        create_role(role)
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(TABLES)} TO {role}")
    for table in TABLES:
        isolate_by_owner(table)


def downgrade() -> None:
    role = service_role()
    for table in TABLES:
        stop_isolating(table)
    if role:
        op.execute(f"REVOKE ALL ON {', '.join(TABLES)} FROM {role}")
        revoke_schema(role)
