-- A message's text as callers see it: of a reply IN_PROGRESS, the text it has
-- flushed so far.
CREATE FUNCTION message_text(
    p_owner text, p_session_id uuid, p_seq bigint, p_content text, p_status smallint
) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_status = @STATUS_IN_PROGRESS@
                THEN p_content || flushed_text(p_owner, p_session_id, p_seq)
                ELSE p_content END
$$
