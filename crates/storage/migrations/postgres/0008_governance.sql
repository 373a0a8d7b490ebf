-- interdict schema v8 (postgres): governance (issue 14 items 1 and 5). Applied migrations are never
-- edited: add a new file.
-- The basis category of an exception requested through the API (law_enforcement,
-- national_security, security_research, other); older rows have none.
ALTER TABLE exceptions ADD COLUMN basis TEXT;
-- A policy publish that weakens the ban waits here for a second person.
CREATE TABLE policy_proposals (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    -- The active server version the proposal was diffed against (none: no policy yet).
    base_version BIGINT,
    reason TEXT NOT NULL,
    -- The semantic diff against the base version (canonical JSON).
    diff_json TEXT NOT NULL,
    -- pending, approved, rejected
    status TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    comment TEXT,
    -- The server version it became, once approved.
    published_version BIGINT
);
CREATE INDEX policy_proposals_status ON policy_proposals (status, proposed_at);
