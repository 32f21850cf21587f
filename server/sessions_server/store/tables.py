"""The schema. Every table carries `owner` and leads its keys with it.

Leading with `owner` lets the schema distribute by owner on Citus (`sessions` and
`messages` co-located) and keeps every lookup inside one owner's rows.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = sa.MetaData()

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("endpoint", sa.Text, nullable=False),
    sa.Column("system_prompt", sa.Text, nullable=False, server_default=""),
    sa.Column("labels", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("message_count", sa.BigInteger, nullable=False, server_default="0"),
    # The seq the next message gets; never decreases, so seqs are never reused.
    sa.Column("next_seq", sa.BigInteger, nullable=False, server_default="1"),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("starred", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("forked_from", UUID(as_uuid=True)),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_active_time", sa.DateTime(timezone=True), nullable=False),
    # A Send in flight holds the session: the holder's token and when it lapses.
    sa.Column("lease_token", UUID(as_uuid=True)),
    sa.Column("lease_expires", sa.DateTime(timezone=True)),
    # The request_id of the Send holding the lease, if it has one.
    sa.Column("lease_request_id", sa.Text),
    # The seq of the reply the holder generates, and whether a Cancel asked it to stop.
    sa.Column("lease_reply_seq", sa.BigInteger),
    sa.Column("lease_cancelled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index(
        "sessions_owner_activity",
        "owner",
        sa.text("last_active_time DESC"),
        sa.text("id DESC"),
    ),
    sa.Index(
        "sessions_owner_starred_activity",
        "owner",
        sa.text("last_active_time DESC"),
        sa.text("id DESC"),
        postgresql_where=sa.text("starred IS TRUE"),
    ),
    sa.Index("sessions_owner_leased", "owner", postgresql_where=sa.text("lease_token IS NOT NULL")),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("session_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("role", sa.SmallInteger, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("prompt_tokens", sa.BigInteger),
    sa.Column("completion_tokens", sa.BigInteger),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(
        ["owner", "session_id"], ["sessions.owner", "sessions.id"], ondelete="CASCADE"
    ),
)

# The text of a reply IN_PROGRESS, a row per flush: appending never rewrites what
# is stored. Closing the reply writes its whole text into `messages` and drops these.
reply_chunks = sa.Table(
    "reply_chunks",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("session_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    # Where the piece starts in the reply, in Unicode code points.
    sa.Column("start_offset", sa.BigInteger, primary_key=True),
    sa.Column("content", sa.Text, nullable=False),
    sa.ForeignKeyConstraint(
        ["owner", "session_id", "seq"],
        ["messages.owner", "messages.session_id", "messages.seq"],
        ondelete="CASCADE",
    ),
)

# The replies some replica has an Attach open for, each until `expires` (renewed
# while it lasts): only these NOTIFY as they grow (`notify_reply`).
reply_listeners = sa.Table(
    "reply_listeners",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("session_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
)

# Idempotency keys of Create and Send, scoped to the owner. `fingerprint` is a
# digest of the request payload so that a reuse with another payload is caught.
request_ids = sa.Table(
    "request_ids",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("session_id", UUID(as_uuid=True), nullable=False),
    # Send: the seq of the stored user message and, once stored, of the reply.
    sa.Column("user_seq", sa.BigInteger),
    sa.Column("reply_seq", sa.BigInteger),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(
        ["owner", "session_id"], ["sessions.owner", "sessions.id"], ondelete="CASCADE"
    ),
)

# The outbox behind Watch: one row per change, written in the changing transaction
# and announced with NOTIFY. Ids increase, so a watcher resumes after the last one
# it saw. No foreign key: the DELETED event outlives its session.
events = sa.Table(
    "events",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("session_id", UUID(as_uuid=True), nullable=False),
    sa.Column("type", sa.SmallInteger, nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Index("events_time", "time"),
)

# Per owner, the newest event id the retention prune has removed: a watcher whose
# position is below it has missed events and must be told (EVENTS_EXPIRED).
events_pruned = sa.Table(
    "events_pruned",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("through_id", sa.BigInteger, nullable=False),
)

# Each owner's sessions counted by (archived, starred), kept by a trigger on
# `sessions` (migration 0007): List's total without a text query reads these.
session_counts = sa.Table(
    "session_counts",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("archived", sa.Boolean, primary_key=True),
    sa.Column("starred", sa.Boolean, primary_key=True),
    sa.Column("sessions", sa.BigInteger, nullable=False),
)

# The owners some replica has a Watch open for, each until `expires` (renewed while
# the Watch lasts): `record_event` NOTIFYs only for these (migration 0010).
watched_owners = sa.Table(
    "watched_owners",
    metadata,
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
)
