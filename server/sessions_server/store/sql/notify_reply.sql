-- Tells the replicas that reply `p_seq` changed (`p_kind`: 'text' appended, 'end'),
-- at commit, when someone is attached to it: unattached replies cost no NOTIFY.
CREATE FUNCTION notify_reply(p_owner text, p_session_id uuid, p_seq bigint, p_kind text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM reply_lock(p_owner, p_session_id, p_seq);
    IF EXISTS (
        SELECT FROM reply_listeners l
        WHERE l.owner = p_owner AND l.session_id = p_session_id AND l.seq = p_seq
          AND l.expires > clock_timestamp()
    ) THEN
        PERFORM pg_notify('@REPLY_CHANNEL@', json_build_object(
            'owner', p_owner, 'session_id', p_session_id::text, 'seq', p_seq, 'kind', p_kind
        )::text);
    END IF;
END
$$
