-- Agents that join by themselves (issue #13): `alilo-agent serve --register`
-- registers its address with a fleet token, heartbeats with its live figures,
-- announces when it drains, and deregisters on SIGTERM. Manual agents
-- (`/v1/agent/set`) keep `registered = FALSE` and are probed as before.
ALTER TABLE agents
    ADD COLUMN registered   BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN version      TEXT NOT NULL DEFAULT '' CHECK (length(version) <= 100),
    ADD COLUMN capacity_rps DOUBLE PRECISION CHECK (capacity_rps > 0),
    ADD COLUMN in_flight    BIGINT NOT NULL DEFAULT 0 CHECK (in_flight >= 0),
    ADD COLUMN active_jobs  INTEGER NOT NULL DEFAULT 0 CHECK (active_jobs >= 0),
    ADD COLUMN heartbeat_at TIMESTAMPTZ,
    ADD COLUMN draining     BOOLEAN NOT NULL DEFAULT FALSE;

COMMENT ON COLUMN agents.registered IS
    'TRUE when the agent registered itself (/v1/fleet/register): healthy only while its heartbeats are fresh';
COMMENT ON COLUMN agents.capacity_rps IS
    'The rate the agent offers (flag or self-measurement); NULL for manual agents (AGENT_CAPACITY_RPS applies)';
COMMENT ON COLUMN agents.heartbeat_at IS
    'Last heartbeat (or registration); a registered agent silent for 3 heartbeat periods is unhealthy';
COMMENT ON COLUMN agents.draining IS
    'The agent is shutting down: the planner gives it no new work';
