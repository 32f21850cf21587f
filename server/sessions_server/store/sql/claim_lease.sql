-- Leases the session for a Send and reserves the seq of its reply (and, with
-- `p_new_message`, of the user message before it). A reply left in progress by a
-- holder whose lease lapsed is settled first.
--
-- outcome: 'claimed' (the rest is filled), else why not, as the session stands
-- just after the refusal (`send_refusal`); a holder that let go in between is no
-- reason: the claim is tried once more ('free' if it is refused again).
CREATE FUNCTION claim_lease(
    p_owner text, p_session_id uuid, p_token uuid, p_lease interval, p_request_id text,
    p_cap integer, p_new_message boolean
) RETURNS TABLE (
    outcome text, name text, model text, endpoint text, system_prompt text, seq bigint,
    reply_seq bigint
) LANGUAGE plpgsql AS $$
-- PL/pgSQL rather than SQL: its plan is kept for the connection, not made per call.
#variable_conflict use_column
BEGIN
    PERFORM settle_reply(p_owner, p_session_id);
    FOR attempt IN 1..2 LOOP
        -- Free: never leased, given back, or lapsed. Within the cap: the owner has
        -- fewer than `p_cap` Sends in flight (exact once the admission lock is held).
        RETURN QUERY
        UPDATE sessions s SET
            lease_token = p_token,
            lease_expires = clock_timestamp() + p_lease,
            lease_request_id = nullif(p_request_id, ''),
            lease_reply_seq = s.next_seq + p_new_message::integer,
            lease_cancelled = false,
            next_seq = s.next_seq + p_new_message::integer + 1,
            message_count = s.message_count + p_new_message::integer + 1,
            last_active_time = CASE WHEN p_new_message THEN now() ELSE s.last_active_time END
        WHERE s.owner = p_owner AND s.id = p_session_id
          AND NOT (s.lease_token IS NOT NULL AND s.lease_expires > clock_timestamp())
          AND (SELECT count(*) FROM sessions busy
               WHERE busy.owner = p_owner AND busy.lease_token IS NOT NULL
                 AND busy.lease_expires > clock_timestamp()) < p_cap
        RETURNING 'claimed'::text, s.name, s.model, s.endpoint, s.system_prompt,
                  CASE WHEN p_new_message THEN s.next_seq - 2 END, s.next_seq - 1;
        IF FOUND THEN
            RETURN;
        END IF;
        outcome := send_refusal(p_owner, p_session_id, p_request_id, p_cap);
        IF outcome <> 'free' OR attempt = 2 THEN
            RETURN NEXT;
            RETURN;
        END IF;
    END LOOP;
END
$$
