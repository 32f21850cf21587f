"""Index each owner's starred sessions by activity.

Revision ID: 0009

List with `starred_only` walks this index in page order. Without it, for an owner
with many sessions and few stars, PostgreSQL fetched every starred session and
sorted them for each page. The index is partial, so only starred sessions pay for
it on writes. It is built CONCURRENTLY, outside the migration's transaction, so
that Sends and Creates go on while it builds on a large table.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_owner_starred_activity "
            "ON sessions (owner, last_active_time DESC, id DESC) WHERE starred IS TRUE"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS sessions_owner_starred_activity")
