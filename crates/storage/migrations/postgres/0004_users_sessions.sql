-- interdict schema v4 (postgres): people and service accounts, token owners, server-side sessions.
-- Applied migrations are never edited: add a new file.

-- A person (signs in with a password or single sign-on) or a named service account (acts only
-- through API tokens). Emails are stored lowercased; a service account has none.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    email TEXT UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    password_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_sign_in_at BIGINT
);
-- The account a token acts for (NULL: a token made before accounts existed, which acts as
-- its own service account).
ALTER TABLE api_tokens ADD COLUMN user_id TEXT REFERENCES users (id);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
-- Browser sessions: the cookie's secret is stored only as its SHA-256.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    method TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    address TEXT NOT NULL,
    user_agent TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
-- Single sign-on attempts in flight: the OAuth state (stored as its SHA-256), the nonce and
-- PKCE verifier, and where to go after; each row is taken (deleted) once at the callback, so
-- a replayed state finds nothing. Servers on one database share them.
CREATE TABLE sso_pending (
    state_hash TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
