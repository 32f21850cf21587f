-- Get, one round trip: the session (a reply whose process died settled first)
-- and its newest `p_limit` messages below seq `p_before` (0 = from the end),
-- oldest first, as arrays, and whether older ones exist. No row when the owner
-- has no such session. A reply in progress reads as the text it has flushed.
CREATE FUNCTION get_session(p_owner text, p_session_id uuid, p_limit integer, p_before bigint)
RETURNS TABLE (
    id uuid, name text, model text, endpoint text, system_prompt text, labels jsonb,
    message_count bigint, archived boolean, starred boolean, forked_from uuid,
    create_time timestamptz, update_time timestamptz, last_active_time timestamptz,
    seqs bigint[], roles smallint[], contents text[], statuses smallint[],
    create_times timestamptz[], prompt_tokens bigint[], completion_tokens bigint[],
    has_more boolean
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('sessions.owner', p_owner, true);
    PERFORM settle_reply(p_owner, p_session_id);
    RETURN QUERY
    SELECT s.id, s.name, s.model, s.endpoint, s.system_prompt, s.labels, s.message_count,
           s.archived, s.starred, s.forked_from, s.create_time, s.update_time,
           s.last_active_time,
           coalesce(array_agg(n.seq ORDER BY n.seq) FILTER (WHERE NOT n.beyond), '{}'),
           coalesce(array_agg(n.role ORDER BY n.seq) FILTER (WHERE NOT n.beyond), '{}'),
           coalesce(array_agg(n.content ORDER BY n.seq) FILTER (WHERE NOT n.beyond), '{}'),
           coalesce(array_agg(n.status ORDER BY n.seq) FILTER (WHERE NOT n.beyond), '{}'),
           coalesce(array_agg(n.create_time ORDER BY n.seq) FILTER (WHERE NOT n.beyond),
                    '{}'),
           coalesce(array_agg(n.prompt_tokens ORDER BY n.seq) FILTER (WHERE NOT n.beyond),
                    '{}'),
           coalesce(array_agg(n.completion_tokens ORDER BY n.seq)
                    FILTER (WHERE NOT n.beyond), '{}'),
           coalesce(bool_or(n.beyond), false)
    FROM sessions s
    LEFT JOIN LATERAL (
        -- One message more than asked tells whether older ones exist.
        SELECT m.seq, m.role, m.status, m.create_time, m.prompt_tokens, m.completion_tokens,
               message_text(m.owner, m.session_id, m.seq, m.content, m.status) AS content,
               row_number() OVER (ORDER BY m.seq DESC) > p_limit AS beyond
        FROM messages m
        WHERE m.owner = p_owner AND m.session_id = p_session_id
          AND (p_before = 0 OR m.seq < p_before)
        ORDER BY m.seq DESC
        LIMIT CASE WHEN p_limit = 0 THEN 0 ELSE p_limit + 1 END
    ) n ON true
    WHERE s.owner = p_owner AND s.id = p_session_id
    GROUP BY s.owner, s.id;
END
$$
