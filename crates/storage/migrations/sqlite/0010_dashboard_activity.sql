-- The dashboard's activity screen filters events by actor, kind or object, newest first
-- (issue 16): one index per filter, ending with seq for the keyset page.
CREATE INDEX events_actor_seq ON events (actor, seq);
CREATE INDEX events_action_seq ON events (action, seq);
CREATE INDEX events_subject_seq ON events (subject, seq);
