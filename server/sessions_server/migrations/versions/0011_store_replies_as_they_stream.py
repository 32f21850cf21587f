"""Replies stored as they stream: IN_PROGRESS from the start, appended in pieces,
settled when their process dies, attached to and cancelled from any replica.

Revision ID: 0011

The lease now names the reply its holder generates (`lease_reply_seq`) and
carries a Cancel's request (`lease_cancelled`). `reply_chunks` holds a reply's
text while it grows, `reply_listeners` the replies someone is attached to (only
those NOTIFY). `claim_lease`, `open_send` and `close_send` are replaced (their
results change; a refused claim says why in the same statement); the rest is new.
The functions' text is in `store/sql/`.
"""

from importlib import import_module

from alembic import op

from sessions_server.migrations.roles import isolate_by_owner, service_role, stop_isolating
from sessions_server.models import MessageStatus
from sessions_server.store import functions

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_REPLACED = [
    "close_send(text, uuid, uuid, text, smallint, bigint, bigint, text)",
    "open_send(text, uuid, uuid, interval, integer, text, text, text, text, integer, bigint, "
    "text[])",
    "claim_lease(text, uuid, uuid, interval, text, integer, boolean)",
]
_CREATED = [
    "reply_lock",
    "notify_reply",
    "listen_reply",
    "flushed_text",
    "settle_reply",
    "send_refusal",
    "claim_lease",
    "begin_reply",
    "open_send",
    "append_reply",
    "close_send",
    "cancel_reply",
]
_NEW_SIGNATURES = [
    "cancel_reply(text, uuid, bigint)",
    "close_send(text, uuid, uuid, bigint, text, smallint, bigint, bigint, text)",
    "append_reply(text, uuid, uuid, bigint, bigint, text)",
    "open_send(text, uuid, uuid, interval, integer, text, text, text, text, integer, bigint, "
    "text[])",
    "begin_reply(text, uuid, bigint, text)",
    "claim_lease(text, uuid, uuid, interval, text, integer, boolean)",
    "send_refusal(text, uuid, text, integer)",
    "settle_reply(text, uuid)",
    "flushed_text(text, uuid, bigint)",
    "listen_reply(text, uuid, bigint, interval)",
    "notify_reply(text, uuid, bigint, text)",
    "reply_lock(text, uuid, bigint)",
]


def upgrade() -> None:
    op.execute(
        "ALTER TABLE sessions ADD COLUMN lease_reply_seq bigint, "
        "ADD COLUMN lease_cancelled boolean NOT NULL DEFAULT false"
    )
    op.execute(
        """
        CREATE TABLE reply_chunks (
            owner text NOT NULL,
            session_id uuid NOT NULL,
            seq bigint NOT NULL,
            start_offset bigint NOT NULL,
            content text NOT NULL,
            PRIMARY KEY (owner, session_id, seq, start_offset),
            FOREIGN KEY (owner, session_id, seq)
                REFERENCES messages (owner, session_id, seq) ON DELETE CASCADE
        )
        """
    )
    op.execute(
        """
        CREATE TABLE reply_listeners (
            owner text NOT NULL,
            session_id uuid NOT NULL,
            seq bigint NOT NULL,
            expires timestamptz NOT NULL,
            PRIMARY KEY (owner, session_id, seq)
        )
        """
    )
    for table in ("reply_chunks", "reply_listeners"):
        isolate_by_owner(table)
        if role := service_role():
            op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}")
    for signature in _REPLACED:
        op.execute(f"DROP FUNCTION {signature}")
    for name in _CREATED:
        op.execute(functions.load(name))


def downgrade() -> None:
    # Replies still in progress end as they would had their process died.
    op.execute(
        f"""
        UPDATE messages m SET
            status = {MessageStatus.INCOMPLETE:d},
            content = m.content || flushed_text(m.owner, m.session_id, m.seq)
        WHERE m.status = {MessageStatus.IN_PROGRESS:d}
        """
    )
    for signature in _NEW_SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
    earlier = import_module("sessions_server.migrations.versions.0008_send_functions")
    for statement in (earlier._CLAIM_LEASE, earlier._OPEN_SEND, earlier._CLOSE_SEND):
        op.execute(statement)
    for table in ("reply_listeners", "reply_chunks"):
        stop_isolating(table)
        op.execute(f"DROP TABLE {table}")
    op.execute("ALTER TABLE sessions DROP COLUMN lease_reply_seq, DROP COLUMN lease_cancelled")
