"""Enable row-level security: the service role sees only the rows of its owner.

Revision ID: 0004

The service acts as a role (`SESSIONS_DATABASE_ROLE`, default `sessions_app`) that
neither owns the tables nor bypasses row security. Every transaction names its
owner in `sessions.owner` (`Store.scope`), and a policy on every table admits only
rows of that owner, for reading and for writing: a query that forgot its owner
filter still touches nothing of another owner. FORCE subjects the tables' owner to
the policies too; superusers are exempt, which is why the service switches role.

Roles belong to the cluster, not to one database: the role is created only when
missing (another database may have created it, even concurrently) and is never
dropped here. TRUNCATE, which ignores row security, is not granted.
"""

import re

from alembic import context, op

from sessions_server.config import DEFAULT_DATABASE_ROLE, ROLE_PATTERN

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("sessions", "messages", "request_ids", "events")
POLICY = "owner_isolation"
OWNER_MATCHES = "owner = current_setting('sessions.owner', true)"


def _role() -> str:
    role: str = context.config.attributes.get("database_role", DEFAULT_DATABASE_ROLE)
    if not re.fullmatch(ROLE_PATTERN, role):
        raise ValueError(f"not a plain role name: {role!r}")
    return role


def _create_role(role: str) -> None:
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by a migration of another database
        END
        $$
        """
    )
    # The login user that migrates usually also serves: let it switch to the role.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
                EXECUTE format('GRANT {role} TO %I', current_user);
            END IF;
        END
        $$
        """
    )
    op.execute(
        f"DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO {role}', current_schema()); "
        "END $$"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(TABLES)} TO {role}")


def upgrade() -> None:
    role = _role()
    if role:
        _create_role(role)
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {POLICY} ON {table} "
            f"USING ({OWNER_MATCHES}) WITH CHECK ({OWNER_MATCHES})"
        )


def downgrade() -> None:
    role = _role()
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    if role:
        op.execute(f"REVOKE ALL ON {', '.join(TABLES)} FROM {role}")
        op.execute(
            f"DO $$ BEGIN EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {role}', "
            "current_schema()); END $$"
        )
