"""Send's opening and closing writes as functions: one round trip each.

Revision ID: 0008

A Send's time to first token waits on its opening write: setting the owner, the
admission lock, the lease, the user message, the request_id, the event and the
context read. Issued one statement at a time they cost seven round trips; as
`open_send` they cost one, run outside any explicit transaction (the statement is
its own transaction). `close_send` does the same for the reply.

`record_event` and `send_context` are the single definitions of recording an
event and of choosing a Send's context: the functions above call them, and so do
the service's other writers and the resume path of Send.

Every function runs as its caller (SECURITY INVOKER), so row security applies to
each statement inside exactly as to the service's own; `open_send` and
`close_send` set `sessions.owner` themselves before touching any row. Stored enum
values used below: role 2 = user, 3 = assistant; status 1 = complete; event type
4 = message added.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_RECORD_EVENT = """
CREATE FUNCTION record_event(p_owner text, p_session_id uuid, p_type smallint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    -- The owner's events commit in id order: the id is drawn under a lock held
    -- until commit (lock space 0x5E55 = 24149, keyed by the owner).
    PERFORM pg_advisory_xact_lock(24149, hashtext(p_owner));
    INSERT INTO events (owner, session_id, type, time)
    VALUES (p_owner, p_session_id, p_type, now())
    RETURNING id INTO new_id;
    PERFORM pg_notify('sessions_events', json_build_object(
        'owner', p_owner, 'session_id', p_session_id::text, 'type', p_type, 'id', new_id
    )::text);
    RETURN new_id;
END
$$
"""

_SEND_CONTEXT = """
CREATE FUNCTION send_context(
    p_owner text, p_session_id uuid, p_through bigint, p_max_messages integer,
    p_max_bytes bigint
) RETURNS TABLE (role smallint, content text) LANGUAGE sql STABLE AS $$
    -- Newest first along the primary key, summing sizes as it goes, so only the
    -- messages that fit are read; message `p_through` always goes.
    SELECT newest.role, newest.content FROM (
        SELECT m.seq, m.role, m.content,
               sum(octet_length(m.content)) OVER (ORDER BY m.seq DESC) AS running
        FROM messages m
        WHERE m.owner = p_owner AND m.session_id = p_session_id AND m.seq <= p_through
        ORDER BY m.seq DESC
        LIMIT p_max_messages
    ) newest
    WHERE newest.running <= p_max_bytes OR newest.seq = p_through
    ORDER BY newest.seq
$$
"""

_CLAIM_LEASE = """
CREATE FUNCTION claim_lease(
    p_owner text, p_session_id uuid, p_token uuid, p_lease interval, p_request_id text,
    p_cap integer, p_new_message boolean
) RETURNS TABLE (name text, model text, endpoint text, system_prompt text, seq bigint)
LANGUAGE plpgsql AS $$
-- PL/pgSQL rather than SQL: its plan is kept for the connection, not made per call.
#variable_conflict use_column
BEGIN
    -- Free: never leased, given back, or lapsed. Within the cap: the owner has
    -- fewer than `p_cap` Sends in flight (exact once the admission lock is held).
    -- With `p_new_message`, the next seq is reserved for the user message.
    RETURN QUERY
    UPDATE sessions s SET
        lease_token = p_token,
        lease_expires = clock_timestamp() + p_lease,
        lease_request_id = nullif(p_request_id, ''),
        next_seq = s.next_seq + p_new_message::integer,
        message_count = s.message_count + p_new_message::integer,
        last_active_time = CASE WHEN p_new_message THEN now() ELSE s.last_active_time END
    WHERE s.owner = p_owner AND s.id = p_session_id
      AND NOT (s.lease_token IS NOT NULL AND s.lease_expires > clock_timestamp())
      AND (SELECT count(*) FROM sessions busy
           WHERE busy.owner = p_owner AND busy.lease_token IS NOT NULL
             AND busy.lease_expires > clock_timestamp()) < p_cap
    RETURNING s.name, s.model, s.endpoint, s.system_prompt, s.next_seq - 1;
END
$$
"""

_OPEN_SEND = """
CREATE FUNCTION open_send(
    p_owner text, p_session_id uuid, p_token uuid, p_lease interval, p_cap integer,
    p_content text, p_request_id text, p_method text, p_fingerprint text,
    p_max_messages integer, p_max_bytes bigint, p_endpoints text[]
) RETURNS TABLE (
    outcome text, session_name text, session_model text, session_endpoint text,
    session_system_prompt text, user_seq bigint, user_create_time timestamptz,
    context_roles smallint[], context_contents text[]
) LANGUAGE plpgsql AS $$
-- outcome: 'opened' (the rest is filled); else nothing was written, because the
-- request_id is stored already ('known'), the session's endpoint is not one of
-- `p_endpoints`, those the caller may use ('unusable'), or the lease was not
-- granted ('refused').
DECLARE
    claimed record;
BEGIN
    PERFORM set_config('sessions.owner', p_owner, true);
    -- One owner's admissions queue here until commit, so the cap cannot be raced.
    PERFORM pg_advisory_xact_lock(hashtextextended('sessions.send:' || p_owner, 0));
    IF p_request_id <> '' AND EXISTS (
        SELECT FROM request_ids r WHERE r.owner = p_owner AND r.request_id = p_request_id
    ) THEN
        outcome := 'known';
        RETURN NEXT;
        RETURN;
    END IF;
    IF EXISTS (
        SELECT FROM sessions s
        WHERE s.owner = p_owner AND s.id = p_session_id AND s.endpoint <> ALL (p_endpoints)
    ) THEN
        outcome := 'unusable';
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO claimed
    FROM claim_lease(p_owner, p_session_id, p_token, p_lease, p_request_id, p_cap, true);
    IF NOT FOUND THEN
        outcome := 'refused';
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO messages (owner, session_id, seq, role, content, status, create_time)
    VALUES (p_owner, p_session_id, claimed.seq, 2, p_content, 1, now())
    RETURNING create_time INTO user_create_time;
    IF p_request_id <> '' THEN
        -- Taken meanwhile by a Create: the unique violation undoes the whole call.
        INSERT INTO request_ids
            (owner, request_id, method, fingerprint, session_id, user_seq, create_time)
        VALUES (p_owner, p_request_id, p_method, p_fingerprint, p_session_id, claimed.seq, now());
    END IF;
    PERFORM record_event(p_owner, p_session_id, 4::smallint);
    SELECT coalesce(array_agg(c.role), '{}'), coalesce(array_agg(c.content), '{}')
    INTO context_roles, context_contents
    FROM send_context(p_owner, p_session_id, claimed.seq, p_max_messages, p_max_bytes) c;
    outcome := 'opened';
    session_name := claimed.name;
    session_model := claimed.model;
    session_endpoint := claimed.endpoint;
    session_system_prompt := claimed.system_prompt;
    user_seq := claimed.seq;
    RETURN NEXT;
END
$$
"""

_CLOSE_SEND = """
CREATE FUNCTION close_send(
    p_owner text, p_session_id uuid, p_token uuid, p_content text, p_status smallint,
    p_prompt_tokens bigint, p_completion_tokens bigint, p_request_id text
) RETURNS TABLE (reply_seq bigint, reply_create_time timestamptz) LANGUAGE plpgsql AS $$
-- No row when the lease is no longer `p_token`'s: then nothing is stored.
BEGIN
    PERFORM set_config('sessions.owner', p_owner, true);
    UPDATE sessions s SET
        lease_token = NULL, lease_expires = NULL, lease_request_id = NULL,
        next_seq = s.next_seq + 1, message_count = s.message_count + 1,
        last_active_time = now()
    WHERE s.owner = p_owner AND s.id = p_session_id AND s.lease_token = p_token
    RETURNING s.next_seq - 1 INTO reply_seq;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO messages (owner, session_id, seq, role, content, status,
                          prompt_tokens, completion_tokens, create_time)
    VALUES (p_owner, p_session_id, reply_seq, 3, p_content, p_status,
            p_prompt_tokens, p_completion_tokens, now())
    RETURNING create_time INTO reply_create_time;
    IF p_request_id <> '' THEN
        UPDATE request_ids r SET reply_seq = close_send.reply_seq
        WHERE r.owner = p_owner AND r.request_id = p_request_id;
    END IF;
    PERFORM record_event(p_owner, p_session_id, 4::smallint);
    RETURN NEXT;
END
$$
"""

_SIGNATURES = [
    "close_send(text, uuid, uuid, text, smallint, bigint, bigint, text)",
    "open_send(text, uuid, uuid, interval, integer, text, text, text, text, integer, bigint, "
    "text[])",
    "claim_lease(text, uuid, uuid, interval, text, integer, boolean)",
    "send_context(text, uuid, bigint, integer, bigint)",
    "record_event(text, uuid, smallint)",
]


def upgrade() -> None:
    for statement in (_RECORD_EVENT, _SEND_CONTEXT, _CLAIM_LEASE, _OPEN_SEND, _CLOSE_SEND):
        op.execute(statement)


def downgrade() -> None:
    for signature in _SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
