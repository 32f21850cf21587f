-- Asks the holder of reply `p_seq` to stop it: flags the lease (the holder's next
-- flush or lease renewal sees the flag) and tells every replica now (the holder's
-- listener stops it at once). False when no live lease generates that reply.
CREATE FUNCTION cancel_reply(p_owner text, p_session_id uuid, p_seq bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions s SET lease_cancelled = true
    WHERE s.owner = p_owner AND s.id = p_session_id AND s.lease_reply_seq = p_seq
      AND s.lease_expires > clock_timestamp();
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_notify('@REPLY_CHANNEL@', json_build_object(
        'owner', p_owner, 'session_id', p_session_id::text, 'seq', p_seq, 'kind', 'cancel'
    )::text);
    RETURN true;
END
$$
