-- Why `claim_lease` refused the session, as it stands now: 'missing' (no such
-- session of the owner), 'busy' (a Send holds it), 'in_progress' (a Send with
-- this request_id holds it), 'too_many' (the owner has `p_cap` Sends in flight),
-- or 'free' (none of these any more: the holder let go meanwhile; claim again).
CREATE FUNCTION send_refusal(
    p_owner text, p_session_id uuid, p_request_id text, p_cap integer
) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN s.id IS NULL THEN 'missing'
        WHEN s.lease_token IS NOT NULL AND s.lease_expires > clock_timestamp() THEN
            CASE WHEN p_request_id <> '' AND s.lease_request_id = p_request_id
                 THEN 'in_progress' ELSE 'busy' END
        WHEN (SELECT count(*) FROM sessions busy
              WHERE busy.owner = p_owner AND busy.lease_token IS NOT NULL
                AND busy.lease_expires > clock_timestamp()) >= p_cap THEN 'too_many'
        ELSE 'free'
    END
    FROM (SELECT) one
    LEFT JOIN sessions s ON s.owner = p_owner AND s.id = p_session_id
$$
