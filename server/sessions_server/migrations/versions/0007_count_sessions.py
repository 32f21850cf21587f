"""Count each owner's sessions by archived / starred, kept by a trigger.

Revision ID: 0007

List's `total_size` for a query without text is then a sum over at most four rows
instead of a count over all the owner's sessions: its cost no longer grows with
the owner's session count. The trigger keeps the counts in the transaction that
changes the sessions, whatever statement does it.
"""

from alembic import op

from sessions_server.migrations.roles import isolate_by_owner, service_role, stop_isolating

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE session_counts (
            owner text NOT NULL,
            archived boolean NOT NULL,
            starred boolean NOT NULL,
            sessions bigint NOT NULL,
            PRIMARY KEY (owner, archived, starred)
        )
        """
    )
    op.execute(
        """
        INSERT INTO session_counts (owner, archived, starred, sessions)
        SELECT owner, archived, starred, count(*) FROM sessions GROUP BY 1, 2, 3
        """
    )
    op.execute(
        """
        CREATE FUNCTION count_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                UPDATE session_counts SET sessions = sessions - 1
                WHERE owner = OLD.owner AND archived = OLD.archived AND starred = OLD.starred;
            END IF;
            IF TG_OP <> 'DELETE' THEN
                INSERT INTO session_counts (owner, archived, starred, sessions)
                VALUES (NEW.owner, NEW.archived, NEW.starred, 1)
                ON CONFLICT (owner, archived, starred)
                DO UPDATE SET sessions = session_counts.sessions + 1;
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER sessions_counted AFTER INSERT OR DELETE ON sessions "
        "FOR EACH ROW EXECUTE FUNCTION count_sessions()"
    )
    op.execute(
        "CREATE TRIGGER sessions_recounted AFTER UPDATE OF archived, starred ON sessions "
        "FOR EACH ROW WHEN (OLD.archived IS DISTINCT FROM NEW.archived "
        "OR OLD.starred IS DISTINCT FROM NEW.starred) EXECUTE FUNCTION count_sessions()"
    )
    isolate_by_owner("session_counts")
    if role := service_role():
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON session_counts TO {role}")


def downgrade() -> None:
    op.execute("DROP TRIGGER sessions_recounted ON sessions")
    op.execute("DROP TRIGGER sessions_counted ON sessions")
    op.execute("DROP FUNCTION count_sessions()")
    stop_isolating("session_counts")
    op.execute("DROP TABLE session_counts")
