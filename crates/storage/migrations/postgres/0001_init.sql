-- interdict schema v1 (PostgreSQL). Applied migrations are never edited: add a new file.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE enroll_secrets (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    groups_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    platform TEXT NOT NULL,
    serial TEXT NOT NULL,
    ownership TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    last_seen BIGINT,
    revoked_at BIGINT,
    compliant BIGINT NOT NULL,
    overdue BIGINT NOT NULL,
    in_grace BIGINT NOT NULL,
    policy_version BIGINT,
    checkins BIGINT NOT NULL,
    last_seq BIGINT NOT NULL
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
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    removed_at BIGINT,
    PRIMARY KEY (device_id, app_id)
);
CREATE INDEX installs_app ON installs (app_id);
CREATE TABLE policy_versions (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
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
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE TABLE event_counter (id BIGINT PRIMARY KEY, next_seq BIGINT NOT NULL);
INSERT INTO event_counter (id, next_seq) VALUES (1, 1);
CREATE TABLE events (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL
);
