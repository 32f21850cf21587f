-- Up to `p_limit` (NULL = all) of the owner's sessions that match the filters,
-- after the keyset position (`p_after_time`, `p_after_id`), most recently active
-- first, ties by id. `p_archived`: 'exclude',
-- 'include' or 'only'; `p_text`: a case-insensitive substring of the name (''
-- = any).
--
-- One SELECT in SQL, so that the planner inlines it into its caller: with
-- `p_starred_only` written as a constant there, a page is a walk of
-- `sessions_owner_activity` (or, starred only, of `sessions_owner_starred_activity`)
-- from the position on, without a sort, whatever the owner's session count. The
-- position is a plain parameter, always given (`list_sessions` starts at
-- +infinity): one generic plan serves first and later pages alike, and under row
-- security only a bare parameter, not an expression of one, goes into the index
-- condition. `strpos` rather than ILIKE:
-- under row security PostgreSQL will not use column statistics for ILIKE (not
-- leakproof) and then prefers a full scan and sort.
CREATE FUNCTION session_page(
    p_owner text, p_archived text, p_starred_only boolean, p_text text,
    p_after_time timestamptz, p_after_id uuid, p_limit integer
) RETURNS TABLE (
    id uuid, name text, model text, endpoint text, system_prompt text, labels jsonb,
    message_count bigint, archived boolean, starred boolean, forked_from uuid,
    create_time timestamptz, update_time timestamptz, last_active_time timestamptz
) LANGUAGE sql STABLE AS $$
    SELECT s.id, s.name, s.model, s.endpoint, s.system_prompt, s.labels, s.message_count,
           s.archived, s.starred, s.forked_from, s.create_time, s.update_time,
           s.last_active_time
    FROM sessions s
    WHERE s.owner = p_owner
      AND (p_archived = 'include' OR s.archived = (p_archived = 'only'))
      AND (NOT p_starred_only OR s.starred IS TRUE)
      AND (p_text = '' OR strpos(lower(s.name), lower(p_text)) > 0)
      AND (s.last_active_time, s.id) < (p_after_time, p_after_id)
    ORDER BY s.last_active_time DESC, s.id DESC
    LIMIT p_limit
$$
