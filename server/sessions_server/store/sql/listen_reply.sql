-- Registers an attacher of reply `p_seq` for `p_lasting` (a registration that
-- lasts longer is kept), under the reply's lock, and drops the session's lapsed
-- registrations. Commit it before reading the reply: see `reply_lock`.
CREATE FUNCTION listen_reply(p_owner text, p_session_id uuid, p_seq bigint, p_lasting interval)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM reply_lock(p_owner, p_session_id, p_seq);
    DELETE FROM reply_listeners l
    WHERE l.owner = p_owner AND l.session_id = p_session_id AND l.expires <= clock_timestamp();
    INSERT INTO reply_listeners AS l (owner, session_id, seq, expires)
    VALUES (p_owner, p_session_id, p_seq, clock_timestamp() + p_lasting)
    ON CONFLICT (owner, session_id, seq)
    DO UPDATE SET expires = greatest(l.expires, excluded.expires);
END
$$
