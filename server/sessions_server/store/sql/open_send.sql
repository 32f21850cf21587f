-- A Send's opening write, one round trip: the admission lock, the lease, the user
-- message, the reply IN_PROGRESS, the request_id, the event and the context read.
--
-- outcome: 'opened' (the rest is filled); else nothing was written, because the
-- request_id is stored already ('known'), the session's endpoint is not one of
-- `p_endpoints`, those the caller may use ('unusable'), or the lease was not
-- granted (why, as `claim_lease` says).
CREATE FUNCTION open_send(
    p_owner text, p_session_id uuid, p_token uuid, p_lease interval, p_cap integer,
    p_content text, p_request_id text, p_method text, p_fingerprint text,
    p_max_messages integer, p_max_bytes bigint, p_endpoints text[]
) RETURNS TABLE (
    outcome text, session_name text, session_model text, session_endpoint text,
    session_system_prompt text, user_seq bigint, user_create_time timestamptz,
    reply_seq bigint, reply_create_time timestamptz,
    context_roles smallint[], context_contents text[]
) LANGUAGE plpgsql AS $$
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
    IF claimed.outcome <> 'claimed' THEN
        outcome := claimed.outcome;
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO messages (owner, session_id, seq, role, content, status, create_time)
    VALUES (
        p_owner, p_session_id, claimed.seq, @ROLE_USER@, p_content, @STATUS_COMPLETE@, now()
    )
    RETURNING create_time INTO user_create_time;
    reply_create_time := begin_reply(p_owner, p_session_id, claimed.reply_seq, '');
    IF p_request_id <> '' THEN
        -- Taken meanwhile by a Create: the unique violation undoes the whole call.
        INSERT INTO request_ids (
            owner, request_id, method, fingerprint, session_id, user_seq, reply_seq, create_time
        ) VALUES (
            p_owner, p_request_id, p_method, p_fingerprint, p_session_id, claimed.seq,
            claimed.reply_seq, now()
        );
    END IF;
    PERFORM record_event(p_owner, p_session_id, @EVENT_MESSAGE_ADDED@::smallint);
    SELECT coalesce(array_agg(c.role), '{}'), coalesce(array_agg(c.content), '{}')
    INTO context_roles, context_contents
    FROM send_context(p_owner, p_session_id, claimed.seq, p_max_messages, p_max_bytes) c;
    outcome := 'opened';
    session_name := claimed.name;
    session_model := claimed.model;
    session_endpoint := claimed.endpoint;
    session_system_prompt := claimed.system_prompt;
    user_seq := claimed.seq;
    reply_seq := claimed.reply_seq;
    RETURN NEXT;
END
$$
