"""Put events_pruned under row security; let a maintenance role prune events.

Revision ID: 0006

`events_pruned` gets the owner policy of every other table. The retention prune is
the one statement that spans owners, so it runs as its own role,
`<service role>_maintenance`, which a policy admits to all rows of `events` and
`events_pruned` and to nothing else: the service role stays confined to one owner.
"""

from alembic import context, op

from sessions_server.config import DEFAULT_DATABASE_ROLE, maintenance_role

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OWNER_MATCHES = "owner = current_setting('sessions.owner', true)"


def _role() -> str:
    role: str = context.config.attributes.get("database_role", DEFAULT_DATABASE_ROLE)
    return role


def upgrade() -> None:
    role = _role()
    op.execute("ALTER TABLE events_pruned ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE events_pruned FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY owner_isolation ON events_pruned "
        f"USING ({OWNER_MATCHES}) WITH CHECK ({OWNER_MATCHES})"
    )
    if not role:
        return
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON events_pruned TO {role}")
    maintenance = maintenance_role(role)
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{maintenance}') THEN
                CREATE ROLE {maintenance} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by a migration of another database
        END
        $$
        """
    )
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT pg_has_role(current_user, '{maintenance}', 'MEMBER') THEN
                EXECUTE format('GRANT {maintenance} TO %I', current_user);
            END IF;
        END
        $$
        """
    )
    op.execute(
        f"DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO {maintenance}', "
        "current_schema()); END $$"
    )
    op.execute(f"GRANT SELECT, DELETE ON events TO {maintenance}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON events_pruned TO {maintenance}")
    for table in ("events", "events_pruned"):
        op.execute(f"CREATE POLICY prune ON {table} TO {maintenance} USING (true)")


def downgrade() -> None:
    role = _role()
    op.execute("DROP POLICY IF EXISTS owner_isolation ON events_pruned")
    op.execute("ALTER TABLE events_pruned NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE events_pruned DISABLE ROW LEVEL SECURITY")
    if not role:
        return
    maintenance = maintenance_role(role)
    for table in ("events", "events_pruned"):
        op.execute(f"DROP POLICY IF EXISTS prune ON {table}")
    op.execute(f"REVOKE ALL ON events, events_pruned FROM {maintenance}")
    op.execute(f"REVOKE ALL ON events_pruned FROM {role}")
    op.execute(
        f"DO $$ BEGIN EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {maintenance}', "
        "current_schema()); END $$"
    )
