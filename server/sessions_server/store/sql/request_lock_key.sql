-- The advisory lock that marks the owner's `p_request_id` as in progress while the
-- call that first used it runs (neither an owner nor a request_id holds a newline).
CREATE FUNCTION request_lock_key(p_owner text, p_request_id text)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended('sessions.request:' || p_owner || E'\n' || p_request_id, 0)
$$
