-- A project's own target allow-list (issue #10): the hosts its scripts may
-- target, on top of the deployment's ALILO_ALLOWED_TARGETS (a host must pass
-- both). Kept beside `projects` rather than in it, so the project shapes of
-- the original UI and the project list's index-only page stay as they are.
CREATE TABLE project_targets (
    project_id BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    entries    TEXT[] NOT NULL CHECK (cardinality(entries) BETWEEN 1 AND 256),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE project_targets IS
    'Per-project target allow-list: host names, *.suffix, IPs/CIDRs or *; no row = no project list';
