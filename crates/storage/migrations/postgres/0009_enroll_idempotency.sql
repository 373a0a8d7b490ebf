-- Idempotent enrollment (issue 12 item 10): an Idempotency-Key, scoped to the enrollment
-- secret that used it, names the device its first request enrolled and a hash of that
-- request, so a retry gets the same device and a different request with the key is refused.
CREATE TABLE enroll_idempotency (
    secret_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (secret_id, idem_key)
);
