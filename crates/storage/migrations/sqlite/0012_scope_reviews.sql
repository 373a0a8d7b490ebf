-- interdict schema v12 (sqlite): trusted scope and vendor appeals (issue 14 items 3 and 4).
-- Applied migrations are never edited: add a new file.

-- What an enrollment secret grants: its groups (groups_json, already there) and, when set,
-- the one ownership its devices get. A device can no longer claim more than that.
ALTER TABLE enroll_secrets ADD COLUMN ownership TEXT;
-- What the device claimed at enrollment ({"groups", "ownership"}), kept apart from what it
-- was assigned (groups_json, ownership), and where the assignment came from:
-- enrollment-secret, claimed (a secret that grants nothing: self-asserted), admin, import.
ALTER TABLE devices ADD COLUMN claimed_json TEXT;
ALTER TABLE devices ADD COLUMN scope_source TEXT NOT NULL DEFAULT 'claimed';

-- A vendor's appeal against a rule, and its decision.
CREATE TABLE rule_reviews (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    appellant TEXT NOT NULL,
    summary TEXT NOT NULL,
    -- The date the appeal was received (YYYY-MM-DD).
    received TEXT NOT NULL,
    -- [{"name", "sha256"}] of each submitted document (canonical JSON).
    documents_json TEXT NOT NULL,
    -- open, upheld, amended, reversed
    status TEXT NOT NULL,
    -- The active policy version when the review was opened.
    opened_version INTEGER,
    opened_by TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    decided_by TEXT,
    decided_at INTEGER,
    reasons TEXT,
    -- amended / reversed: the published version that carries the decision out.
    policy_version INTEGER
);
CREATE INDEX rule_reviews_rule ON rule_reviews (rule, opened_at);
