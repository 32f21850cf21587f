"""Role and policy statements shared by the migrations that set up row security.

Roles belong to the cluster, not to one database: a role is created only when
missing (another database may have created it, even concurrently) and never
dropped by a migration.
"""

import re

from alembic import context, op

from sessions_server.config import DEFAULT_DATABASE_ROLE, ROLE_PATTERN

OWNER_MATCHES = "owner = current_setting('sessions.owner', true)"


def service_role() -> str:
    """The role the service acts as (`SESSIONS_DATABASE_ROLE`; empty = none)."""
    role: str = context.config.attributes.get("database_role", DEFAULT_DATABASE_ROLE)
    if not re.fullmatch(ROLE_PATTERN, role):
        raise ValueError(f"not a plain role name: {role!r}")
    return role


def create_role(role: str) -> None:
    """Creates `role` (no login, no row-security bypass) if missing, lets the
    migrating login user switch to it, and lets it use the schema."""
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


def revoke_schema(role: str) -> None:
    op.execute(
        f"DO $$ BEGIN EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {role}', "
        "current_schema()); END $$"
    )


def isolate_by_owner(table: str) -> None:
    """Row security on `table`: only the transaction's owner's rows, even for the
    table's owner (FORCE)."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY owner_isolation ON {table} "
        f"USING ({OWNER_MATCHES}) WITH CHECK ({OWNER_MATCHES})"
    )


def stop_isolating(table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS owner_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
