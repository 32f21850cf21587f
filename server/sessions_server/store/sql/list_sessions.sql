-- List, one round trip: how many of the owner's sessions match the filters, and a
-- page of them (`session_page` says which and in what order), after the keyset
-- position (`p_after_time`, `p_after_id`; NULL = from the start). A row per
-- session, each carrying the total; an empty page is one row with the total alone
-- (id NULL).
-- The total of a query without text sums the per-owner counts (`session_counts`,
-- at most four rows); with text, it counts the matching sessions.
CREATE FUNCTION list_sessions(
    p_owner text, p_archived text, p_starred_only boolean, p_text text,
    p_after_time timestamptz, p_after_id uuid, p_limit integer
) RETURNS TABLE (
    total bigint, id uuid, name text, model text, endpoint text, system_prompt text,
    labels jsonb, message_count bigint, archived boolean, starred boolean,
    forked_from uuid, create_time timestamptz, update_time timestamptz,
    last_active_time timestamptz
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    counted bigint;
    -- Before every session: the position of the first page.
    start_time CONSTANT timestamptz := 'infinity';
    start_id CONSTANT uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
    after_time timestamptz := coalesce(p_after_time, start_time);
    after_id uuid := coalesce(p_after_id, start_id);
BEGIN
    PERFORM set_config('sessions.owner', p_owner, true);
    IF p_text = '' THEN
        SELECT coalesce(sum(c.sessions), 0) INTO counted FROM session_counts c
        WHERE c.owner = p_owner
          AND (p_archived = 'include' OR c.archived = (p_archived = 'only'))
          AND (NOT p_starred_only OR c.starred);
    ELSE
        SELECT count(*) INTO counted
        FROM session_page(p_owner, p_archived, p_starred_only, p_text, start_time, start_id, NULL);
    END IF;
    -- The flag as a constant in each query: see `session_page`.
    IF p_starred_only THEN
        RETURN QUERY SELECT counted, p.* FROM session_page(
            p_owner, p_archived, true, p_text, after_time, after_id, p_limit
        ) p;
    ELSE
        RETURN QUERY SELECT counted, p.* FROM session_page(
            p_owner, p_archived, false, p_text, after_time, after_id, p_limit
        ) p;
    END IF;
    IF NOT FOUND THEN
        total := counted;
        RETURN NEXT;
    END IF;
END
$$
