-- interdict schema v2 (SQLite). Applied migrations are never edited: add a new file.

-- One row per exposure episode of a (device, rule, app): opened by the check-in whose
-- evaluation first reports it, closed (resolved_at) by the first one that no longer does.
-- Per-rule exposure reads the open rows; the burn-down series sweeps opened/resolved times.
-- Revoking a device resolves its open findings, so no query needs to look at devices to
-- leave revoked ones out.
CREATE TABLE findings (
    device_id TEXT NOT NULL REFERENCES devices (id),
    rule TEXT NOT NULL,
    app_id TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    resolved_at INTEGER,
    status TEXT NOT NULL,
    deadline TEXT,
    remedy TEXT,
    exception_id TEXT,
    excepted_until TEXT,
    PRIMARY KEY (device_id, rule, app_id, opened_at)
);
-- Open findings by rule, in exposure order (device, app), covering the per-rule summary.
CREATE INDEX findings_open ON findings (rule, device_id, app_id, status, deadline, excepted_until)
    WHERE resolved_at IS NULL;
CREATE INDEX findings_open_by_device ON findings (device_id) WHERE resolved_at IS NULL;
-- Every episode of a rule, for the burn-down series.
CREATE INDEX findings_rule_time ON findings (rule, opened_at);
-- Active devices counted without reading device rows.
CREATE INDEX devices_revoked ON devices (revoked_at);
-- Compliance is derived from findings now; this index only made every check-in's update of
-- the flags dirty one more page.
DROP INDEX devices_compliant;
-- Fingerprint of the device's open findings, so an unchanged evaluation writes nothing.
ALTER TABLE devices ADD COLUMN findings_hash TEXT;

-- What a device reports having done about an action (idempotent on re-delivery).
CREATE TABLE action_results (
    device_id TEXT NOT NULL REFERENCES devices (id),
    action_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    command TEXT,
    reported_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, action_id, reported_at, status)
);

-- Uploaded APKs' assessment reports (interdict.assessment/v1 JSON), one per distinct file.
CREATE TABLE assessments (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    app_id TEXT,
    version_name TEXT,
    version_code INTEGER,
    verdict TEXT NOT NULL,
    score INTEGER,
    size INTEGER NOT NULL,
    report_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX assessments_app ON assessments (app_id);
CREATE INDEX assessments_verdict ON assessments (verdict, created_at);
