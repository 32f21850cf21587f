-- Serializes, per reply, an attacher's registration (`listen_reply`) with the
-- writers' check for attachers (`notify_reply`), until the transaction ends: a
-- write that found no attacher commits before the attacher's first read, so that
-- read sees it; any later write sees the attacher and notifies.
CREATE FUNCTION reply_lock(p_owner text, p_session_id uuid, p_seq bigint)
RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(
        @REPLY_LOCK_SPACE@, hashtext(p_owner || '/' || p_session_id::text || '/' || p_seq::text)
    )
$$
