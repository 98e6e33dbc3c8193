-- The agents' control API over TLS with a pinned certificate (issue #10). An
-- agent started with --tls-cert serves https; the backend accepts only the
-- certificate pinned for it: SHA-256 of the certificate (DER), written
-- 'sha256:<64 hex>' (a comma-separated list during a rotation). Set by an admin
-- (/v1/agent/set `tls_pin`) or reported by the agent when it registers with the
-- fleet token. NULL: plain http, as before. A job keeps the pins of its agent
-- beside its control URL, so it is never called over http once pinned.
ALTER TABLE agents
    ADD COLUMN tls_pin TEXT CHECK (tls_pin ~ '^sha256:[0-9a-f]{64}(,sha256:[0-9a-f]{64}){0,3}$');
ALTER TABLE jobs
    ADD COLUMN tls_pin TEXT CHECK (tls_pin ~ '^sha256:[0-9a-f]{64}(,sha256:[0-9a-f]{64}){0,3}$');

COMMENT ON COLUMN agents.tls_pin IS
    'SHA-256 pins (sha256:<hex>[,…]) of the certificate its control API serves: called over https accepting only these; NULL: http';
COMMENT ON COLUMN jobs.tls_pin IS
    'The pins of its agent when the job was placed (with base_url https://…); NULL: http';
