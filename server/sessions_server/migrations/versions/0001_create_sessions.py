"""Create sessions, messages and request_ids.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("owner", sa.Text, primary_key=True),
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("system_prompt", sa.Text, nullable=False, server_default=""),
        sa.Column("labels", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("message_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("next_seq", sa.BigInteger, nullable=False, server_default="1"),
        sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("starred", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("forked_from", UUID(as_uuid=True)),
        sa.Column("create_time", TIMESTAMP, nullable=False),
        sa.Column("update_time", TIMESTAMP, nullable=False),
        sa.Column("last_active_time", TIMESTAMP, nullable=False),
        sa.Column("lease_token", UUID(as_uuid=True)),
        sa.Column("lease_expires", TIMESTAMP),
    )
    op.execute(
        "CREATE INDEX sessions_owner_activity ON sessions (owner, last_active_time DESC, id DESC)"
    )
    op.create_table(
        "messages",
        sa.Column("owner", sa.Text, primary_key=True),
        sa.Column("session_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("role", sa.SmallInteger, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger),
        sa.Column("completion_tokens", sa.BigInteger),
        sa.Column("create_time", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner", "session_id"], ["sessions.owner", "sessions.id"], ondelete="CASCADE"
        ),
    )
    op.create_table(
        "request_ids",
        sa.Column("owner", sa.Text, primary_key=True),
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("session_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_seq", sa.BigInteger),
        sa.Column("reply_seq", sa.BigInteger),
        sa.Column("create_time", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner", "session_id"], ["sessions.owner", "sessions.id"], ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("request_ids")
    op.drop_table("messages")
    op.drop_table("sessions")
