-- interdict schema v1 (SQLite). Applied migrations are never edited: add a new file.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE enroll_secrets (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    groups_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    platform TEXT NOT NULL,
    serial TEXT NOT NULL,
    ownership TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL,
    last_seen INTEGER,
    revoked_at INTEGER,
    compliant INTEGER NOT NULL,
    overdue INTEGER NOT NULL,
    in_grace INTEGER NOT NULL,
    policy_version INTEGER,
    checkins INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE INDEX devices_compliant ON devices (compliant);
-- The last full inventory, apart from devices so that the hot row (last_seen, counters) stays
-- small: an unchanged check-in rewrites a few bytes, not the inventory.
CREATE TABLE device_inventories (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    hash TEXT NOT NULL,
    apps_json TEXT NOT NULL
);
CREATE TABLE installs (
    device_id TEXT NOT NULL REFERENCES devices (id),
    app_id TEXT NOT NULL,
    version TEXT,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    removed_at INTEGER,
    PRIMARY KEY (device_id, app_id)
);
CREATE INDEX installs_app ON installs (app_id);
CREATE TABLE policy_versions (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE exceptions (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices (id),
    rule TEXT NOT NULL,
    app_id TEXT,
    justification TEXT NOT NULL,
    expires TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    decided_by TEXT,
    created_at INTEGER NOT NULL,
    decided_at INTEGER
);
CREATE TABLE event_counter (id INTEGER PRIMARY KEY, next_seq INTEGER NOT NULL);
INSERT INTO event_counter (id, next_seq) VALUES (1, 1);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL
);
