-- Create, one round trip: the session, the request_id that lets a retry find it,
-- the event.
--
-- outcome: 'created', or 'existing' (a retry: the session this request_id made
-- before), both with the session; else nothing was written: 'in_progress' (the
-- first call with this request_id still runs), 'reused' (the request_id was used
-- with another payload, or by a Send), 'gone' (the session it made was deleted).
-- Should a Send take the request_id between the check and the insert, the unique
-- violation undoes the whole call.
CREATE FUNCTION create_session(
    p_owner text, p_id uuid, p_name text, p_model text, p_endpoint text,
    p_system_prompt text, p_labels jsonb, p_request_id text, p_fingerprint text
) RETURNS TABLE (
    outcome text, id uuid, name text, model text, endpoint text, system_prompt text,
    labels jsonb, message_count bigint, archived boolean, starred boolean,
    forked_from uuid, create_time timestamptz, update_time timestamptz,
    last_active_time timestamptz
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    known record;
BEGIN
    PERFORM set_config('sessions.owner', p_owner, true);
    IF p_request_id <> '' THEN
        IF NOT pg_try_advisory_xact_lock(request_lock_key(p_owner, p_request_id)) THEN
            outcome := 'in_progress';
            RETURN NEXT;
            RETURN;
        END IF;
        SELECT r.method, r.fingerprint, r.session_id INTO known FROM request_ids r
        WHERE r.owner = p_owner AND r.request_id = p_request_id;
        IF FOUND THEN
            IF known.method <> 'Create' OR known.fingerprint <> p_fingerprint THEN
                outcome := 'reused';
                RETURN NEXT;
                RETURN;
            END IF;
            RETURN QUERY
            SELECT 'existing'::text, s.id, s.name, s.model, s.endpoint, s.system_prompt,
                   s.labels, s.message_count, s.archived, s.starred, s.forked_from,
                   s.create_time, s.update_time, s.last_active_time
            FROM sessions s WHERE s.owner = p_owner AND s.id = known.session_id;
            IF NOT FOUND THEN
                outcome := 'gone';
                RETURN NEXT;
            END IF;
            RETURN;
        END IF;
    END IF;
    RETURN QUERY
    INSERT INTO sessions AS s (
        owner, id, name, model, endpoint, system_prompt, labels, create_time, update_time,
        last_active_time
    ) VALUES (
        p_owner, p_id, p_name, p_model, p_endpoint, p_system_prompt, p_labels, now(), now(),
        now()
    )
    RETURNING 'created'::text, s.id, s.name, s.model, s.endpoint, s.system_prompt, s.labels,
              s.message_count, s.archived, s.starred, s.forked_from, s.create_time,
              s.update_time, s.last_active_time;
    IF p_request_id <> '' THEN
        INSERT INTO request_ids (owner, request_id, method, fingerprint, session_id, create_time)
        VALUES (p_owner, p_request_id, 'Create', p_fingerprint, p_id, now());
    END IF;
    PERFORM record_event(p_owner, p_id, @EVENT_CREATED@::smallint);
END
$$
