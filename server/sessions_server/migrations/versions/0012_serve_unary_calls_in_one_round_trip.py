"""Create, Get, List and Manage each in one round trip: a stored function per call
that sets the owner, does the work, records the event and answers.

Revision ID: 0012

Every function runs as its caller (SECURITY INVOKER) and sets `sessions.owner`
before touching a row, so row security applies to each statement inside as to the
service's own. Their text is in `store/sql/`.
"""

from alembic import op

from sessions_server.store import functions

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_CREATED = {
    "message_text": "message_text(text, uuid, bigint, text, smallint)",
    "get_session": "get_session(text, uuid, integer, bigint)",
    "session_page": "session_page(text, text, boolean, text, timestamptz, uuid, integer)",
    "list_sessions": "list_sessions(text, text, boolean, text, timestamptz, uuid, integer)",
    "request_lock_key": "request_lock_key(text, text)",
    "create_session": "create_session(text, uuid, text, text, text, text, jsonb, text, text)",
    "manage_session": "manage_session(text, uuid, text, text, integer, boolean, uuid, uuid)",
}


def upgrade() -> None:
    for name in _CREATED:
        op.execute(functions.load(name))


def downgrade() -> None:
    for signature in reversed(_CREATED.values()):
        op.execute(f"DROP FUNCTION {signature}")
