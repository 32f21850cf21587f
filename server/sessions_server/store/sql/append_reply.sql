-- Stores the next piece of reply `p_seq`, starting at code point `p_start`, while
-- `p_token` holds the lease: one small row, so a flush costs the same however
-- long the reply has grown. The session row is share-locked so that a settle or
-- close cannot pass between the check and the insert.
--
-- outcome (`leases.Hold`): 'held' (appended); 'cancelled' (appended, and a Cancel
-- asks the reply to stop); 'lost' (the lease is no longer `p_token`'s: nothing
-- stored).
CREATE FUNCTION append_reply(
    p_owner text, p_session_id uuid, p_token uuid, p_seq bigint, p_start bigint,
    p_content text
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    cancelled boolean;
BEGIN
    PERFORM set_config('sessions.owner', p_owner, true);
    SELECT s.lease_cancelled INTO cancelled FROM sessions s
    WHERE s.owner = p_owner AND s.id = p_session_id AND s.lease_token = p_token
      AND s.lease_reply_seq = p_seq
    FOR SHARE;
    IF NOT FOUND THEN
        RETURN 'lost';
    END IF;
    INSERT INTO reply_chunks (owner, session_id, seq, start_offset, content)
    VALUES (p_owner, p_session_id, p_seq, p_start, p_content);
    PERFORM notify_reply(p_owner, p_session_id, p_seq, 'text');
    RETURN CASE WHEN cancelled THEN 'cancelled' ELSE 'held' END;
END
$$
