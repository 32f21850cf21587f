-- Stores reply `p_seq` (reserved by `claim_lease`) IN_PROGRESS with no text yet,
-- and points the request_id at it. Returns its create_time.
CREATE FUNCTION begin_reply(p_owner text, p_session_id uuid, p_seq bigint, p_request_id text)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
    created timestamptz;
BEGIN
    INSERT INTO messages (owner, session_id, seq, role, content, status, create_time)
    VALUES (p_owner, p_session_id, p_seq, @ROLE_ASSISTANT@, '', @STATUS_IN_PROGRESS@, now())
    RETURNING create_time INTO created;
    IF p_request_id <> '' THEN
        UPDATE request_ids r SET reply_seq = p_seq
        WHERE r.owner = p_owner AND r.request_id = p_request_id;
    END IF;
    RETURN created;
END
$$
