-- Ends the session's reply whose holder's lease lapsed (its process died):
-- INCOMPLETE, with the text flushed so far, and the session free again. Returns
-- the reply's seq; NULL when there was nothing to settle.
CREATE FUNCTION settle_reply(p_owner text, p_session_id uuid)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    settled bigint;
BEGIN
    UPDATE sessions s SET
        lease_token = NULL, lease_expires = NULL, lease_request_id = NULL,
        lease_reply_seq = NULL, lease_cancelled = false
    FROM (
        SELECT l.id, l.lease_reply_seq FROM sessions l
        WHERE l.owner = p_owner AND l.id = p_session_id AND l.lease_reply_seq IS NOT NULL
          AND l.lease_expires <= clock_timestamp()
        FOR UPDATE
    ) lapsed
    WHERE s.owner = p_owner AND s.id = lapsed.id
    RETURNING lapsed.lease_reply_seq INTO settled;
    IF settled IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE messages m SET
        status = @STATUS_INCOMPLETE@,
        content = m.content || flushed_text(p_owner, p_session_id, settled)
    WHERE m.owner = p_owner AND m.session_id = p_session_id AND m.seq = settled
      AND m.status = @STATUS_IN_PROGRESS@;
    DELETE FROM reply_chunks c
    WHERE c.owner = p_owner AND c.session_id = p_session_id AND c.seq = settled;
    PERFORM record_event(p_owner, p_session_id, @EVENT_MESSAGE_ADDED@::smallint);
    PERFORM notify_reply(p_owner, p_session_id, settled, 'end');
    RETURN settled;
END
$$
