-- Dashboard (issue 16). The activity screen filters events by actor, kind or object, newest first
-- (issue 16): one index per filter, ending with seq for the keyset page.
CREATE INDEX events_actor_seq ON events (actor, seq);
CREATE INDEX events_action_seq ON events (action, seq);
CREATE INDEX events_subject_seq ON events (subject, seq);
-- The overview groups the active devices by what a rule's scope reads, counting how many
-- are stale or silent: a covering index read in group order (100,000 devices: 220 ms to 22 ms).
CREATE INDEX devices_scope ON devices (platform, ownership, groups_json, last_seen)
    WHERE revoked_at IS NULL;
