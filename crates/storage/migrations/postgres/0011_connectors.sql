-- Connectors to MDMs (issue 17): each connector's last sync, the devices it pulled (an MDM
-- device is a device row of its own, mapped by the connector's key), and the notifications
-- waiting to be sent or sent.
CREATE TABLE connectors (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    last_started_at BIGINT,
    last_finished_at BIGINT,
    last_success_at BIGINT,
    last_complete_at BIGINT,
    last_error TEXT,
    last_result_json TEXT NOT NULL
);
CREATE TABLE connector_devices (
    connector TEXT NOT NULL,
    external_id TEXT NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices (id),
    first_pulled_at BIGINT NOT NULL,
    last_pulled_at BIGINT NOT NULL,
    missing_since BIGINT,
    mdm_json TEXT NOT NULL,
    PRIMARY KEY (connector, external_id)
);
CREATE UNIQUE INDEX connector_devices_device ON connector_devices (device_id);
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
