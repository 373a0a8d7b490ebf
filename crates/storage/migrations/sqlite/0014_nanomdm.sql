-- Apple MDM through NanoMDM (issue 17): the commands interdict enqueued, one row per
-- (CommandUUID, enrollment id), so that each acknowledge webhook is matched to what was sent
-- (and answered once); and the webhook bodies already taken, for the replay window.
CREATE TABLE nanomdm_commands (
    connector TEXT NOT NULL,
    command_uuid TEXT NOT NULL,
    enrollment_id TEXT NOT NULL,
    request_type TEXT NOT NULL,
    app_id TEXT,
    device_id TEXT,
    action_id TEXT,
    action_kind TEXT,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (connector, command_uuid, enrollment_id)
);
CREATE INDEX nanomdm_commands_device ON nanomdm_commands (connector, enrollment_id, request_type, status);
CREATE TABLE nanomdm_webhooks_seen (
    connector TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (connector, body_sha256)
);
CREATE INDEX nanomdm_webhooks_seen_at ON nanomdm_webhooks_seen (connector, received_at);
