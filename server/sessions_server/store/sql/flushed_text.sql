-- The text of reply `p_seq` appended so far while it is IN_PROGRESS (its message
-- row gets the whole text when it ends).
CREATE FUNCTION flushed_text(p_owner text, p_session_id uuid, p_seq bigint)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(c.content, '' ORDER BY c.start_offset), '')
    FROM reply_chunks c
    WHERE c.owner = p_owner AND c.session_id = p_session_id AND c.seq = p_seq
$$
