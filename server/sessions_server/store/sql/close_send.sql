-- A Send's closing write, one round trip: the reply's final text, status and
-- usage, the lease given back, the event. No row when the lease is no longer
-- `p_token`'s: then nothing is stored. A NULL `p_status` removes the reply (it has
-- no text, and its caller was told why): its seq is not reused, and a repeat of
-- its request_id continues from the user message; reply_create_time is NULL.
CREATE FUNCTION close_send(
    p_owner text, p_session_id uuid, p_token uuid, p_seq bigint, p_content text,
    p_status smallint, p_prompt_tokens bigint, p_completion_tokens bigint, p_request_id text
) RETURNS TABLE (reply_create_time timestamptz) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('sessions.owner', p_owner, true);
    UPDATE sessions s SET
        lease_token = NULL, lease_expires = NULL, lease_request_id = NULL,
        lease_reply_seq = NULL, lease_cancelled = false,
        message_count = s.message_count - (p_status IS NULL)::integer,
        last_active_time = now()
    WHERE s.owner = p_owner AND s.id = p_session_id AND s.lease_token = p_token;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_status IS NULL THEN
        DELETE FROM messages m
        WHERE m.owner = p_owner AND m.session_id = p_session_id AND m.seq = p_seq;
        IF p_request_id <> '' THEN
            UPDATE request_ids r SET reply_seq = NULL
            WHERE r.owner = p_owner AND r.request_id = p_request_id;
        END IF;
    ELSE
        UPDATE messages m SET
            content = p_content, status = p_status,
            prompt_tokens = p_prompt_tokens, completion_tokens = p_completion_tokens
        WHERE m.owner = p_owner AND m.session_id = p_session_id AND m.seq = p_seq
        RETURNING m.create_time INTO reply_create_time;
        DELETE FROM reply_chunks c
        WHERE c.owner = p_owner AND c.session_id = p_session_id AND c.seq = p_seq;
    END IF;
    PERFORM record_event(p_owner, p_session_id, @EVENT_MESSAGE_ADDED@::smallint);
    PERFORM notify_reply(p_owner, p_session_id, p_seq, 'end');
    RETURN NEXT;
END
$$
