-- Manage, one round trip: one action on one session, its rules checked with the
-- session row locked, and its event (UPDATED; DELETED; CREATED for the fork).
--
-- `p_action`: 'rename' (to `p_name`), 'archive', 'unarchive', 'star', 'unstar'
-- (only when `p_by_user`), 'delete' (not a starred session, not `p_current`, not
-- while a Send holds it), 'truncate' (keep the newest `p_keep` messages; not while
-- a Send holds it), 'fork' (a new session `p_fork_id` named `p_name`, or "Fork:
-- <name>" cut to the name limit, with the oldest `p_keep` messages, NULL = all;
-- a reply still in progress is copied as it stands, INCOMPLETE).
--
-- outcome: 'done', with the session after the action (the fork for fork; as it
-- was for delete) and the messages removed or copied; else nothing was written:
-- 'missing', 'starred', 'current', 'busy', 'forbidden'.
CREATE FUNCTION manage_session(
    p_owner text, p_session_id uuid, p_action text, p_name text, p_keep integer,
    p_by_user boolean, p_current uuid, p_fork_id uuid
) RETURNS TABLE (
    outcome text, id uuid, name text, model text, endpoint text, system_prompt text,
    labels jsonb, message_count bigint, archived boolean, starred boolean,
    forked_from uuid, create_time timestamptz, update_time timestamptz,
    last_active_time timestamptz, messages_removed bigint, messages_copied bigint
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    target sessions%ROWTYPE;
    affected bigint := 0;
    event smallint := @EVENT_UPDATED@;
BEGIN
    PERFORM set_config('sessions.owner', p_owner, true);
    SELECT * INTO target FROM sessions s
    WHERE s.owner = p_owner AND s.id = p_session_id
    FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'missing';
        RETURN NEXT;
        RETURN;
    END IF;
    outcome := CASE
        WHEN p_action = 'unstar' AND NOT p_by_user THEN 'forbidden'
        WHEN p_action = 'delete' AND target.starred THEN 'starred'
        WHEN p_action = 'delete' AND target.id = p_current THEN 'current'
        WHEN p_action IN ('delete', 'truncate') AND target.lease_token IS NOT NULL
             AND target.lease_expires > clock_timestamp() THEN 'busy'
        ELSE 'done'
    END;
    IF outcome <> 'done' THEN
        RETURN NEXT;
        RETURN;
    END IF;
    CASE p_action
    WHEN 'rename', 'archive', 'unarchive', 'star', 'unstar' THEN
        UPDATE sessions s SET
            name = CASE WHEN p_action = 'rename' THEN p_name ELSE s.name END,
            archived = CASE p_action WHEN 'archive' THEN true WHEN 'unarchive' THEN false
                                     ELSE s.archived END,
            starred = CASE p_action WHEN 'star' THEN true WHEN 'unstar' THEN false
                                    ELSE s.starred END,
            update_time = now()
        WHERE s.owner = p_owner AND s.id = p_session_id
        RETURNING * INTO target;
    WHEN 'delete' THEN
        DELETE FROM sessions s WHERE s.owner = p_owner AND s.id = p_session_id;
        affected := target.message_count;
        event := @EVENT_DELETED@;
    WHEN 'truncate' THEN
        DELETE FROM messages m
        WHERE m.owner = p_owner AND m.session_id = p_session_id
          AND m.seq NOT IN (
              SELECT k.seq FROM messages k
              WHERE k.owner = p_owner AND k.session_id = p_session_id
              ORDER BY k.seq DESC LIMIT p_keep
          );
        GET DIAGNOSTICS affected = ROW_COUNT;
        UPDATE sessions s SET message_count = s.message_count - affected, update_time = now()
        WHERE s.owner = p_owner AND s.id = p_session_id
        RETURNING * INTO target;
    WHEN 'fork' THEN
        INSERT INTO sessions AS s (
            owner, id, name, model, endpoint, system_prompt, labels, forked_from,
            create_time, update_time, last_active_time
        ) VALUES (
            p_owner, p_fork_id,
            coalesce(p_name, rtrim(left('@FORK_PREFIX@' || target.name, @NAME_MAX_CHARS@))),
            target.model, target.endpoint, target.system_prompt, target.labels, target.id,
            now(), now(), now()
        );
        INSERT INTO messages (owner, session_id, seq, role, content, status, prompt_tokens,
                              completion_tokens, create_time)
        SELECT p_owner, p_fork_id, row_number() OVER (ORDER BY m.seq), m.role,
               message_text(m.owner, m.session_id, m.seq, m.content, m.status),
               CASE WHEN m.status = @STATUS_IN_PROGRESS@ THEN @STATUS_INCOMPLETE@
                    ELSE m.status END,
               m.prompt_tokens, m.completion_tokens, m.create_time
        FROM (
            SELECT * FROM messages o
            WHERE o.owner = p_owner AND o.session_id = p_session_id
            ORDER BY o.seq LIMIT p_keep
        ) m;
        GET DIAGNOSTICS affected = ROW_COUNT;
        UPDATE sessions s SET message_count = affected, next_seq = affected + 1
        WHERE s.owner = p_owner AND s.id = p_fork_id
        RETURNING * INTO target;
        event := @EVENT_CREATED@;
    END CASE;
    PERFORM record_event(p_owner, target.id, event);
    RETURN QUERY SELECT 'done'::text, target.id, target.name, target.model, target.endpoint,
        target.system_prompt, target.labels, target.message_count, target.archived,
        target.starred, target.forked_from, target.create_time, target.update_time,
        target.last_active_time,
        CASE WHEN p_action IN ('delete', 'truncate') THEN affected ELSE 0 END,
        CASE WHEN p_action = 'fork' THEN affected ELSE 0 END;
END
$$
