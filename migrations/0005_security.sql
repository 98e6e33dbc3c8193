-- Who may do what (issue #10): users, their sessions, API tokens and the audit log.
-- Secrets are never stored: passwords as argon2id PHC strings, session ids and
-- tokens as their SHA-256 (they are 256-bit random values, so a plain hash is
-- enough and lets a lookup use the index).

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'tester', 'admin')),
    -- NULL: every project; otherwise a tester may change only these projects.
    projects      BIGINT[],
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE users IS 'People who sign in with a password (argon2id); role viewer < tester < admin';

CREATE TABLE sessions (
    id_hash    BYTEA PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX sessions_user ON sessions (user_id);
COMMENT ON TABLE sessions IS 'Browser sessions (the alilo_session cookie), by the SHA-256 of their id';

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   BYTEA NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'tester', 'admin')),
    projects     BIGINT[],
    created_by   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
COMMENT ON TABLE api_tokens IS 'Bearer tokens for scripts and CI, by the SHA-256 of the token; shown once at creation';

CREATE TABLE audit_log (
    id       BIGSERIAL PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor    TEXT NOT NULL,
    user_id  BIGINT,
    token_id BIGINT,
    via      TEXT NOT NULL CHECK (via IN ('session', 'token', 'none', 'no-auth')),
    address  TEXT NOT NULL DEFAULT '',
    route    TEXT NOT NULL,
    ids      JSONB NOT NULL DEFAULT '{}',
    project_ids BIGINT[] NOT NULL DEFAULT '{}',
    status   INTEGER NOT NULL,
    message  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, at DESC);
CREATE INDEX audit_log_projects ON audit_log USING GIN (project_ids);
-- Failed logins per name and per address, for rate limiting.
CREATE INDEX audit_log_failed_logins ON audit_log (route, at) WHERE status = 401;
COMMENT ON TABLE audit_log IS 'Every mutating call, login and refusal: who, when, route, ids touched, outcome';
