-- The controller at fleet scale (issue #13).
--
-- 1. A stored second in less than half the bytes, so 10,000 job-seconds a
--    second fit (bench/fleet/RESULTS.md): the histograms are the HDR V2 bytes
--    themselves rather than their base64, and the service histogram is written
--    with 2 significant digits (shared::control::stored). Rows already stored
--    are converted in place (their service histograms keep 3 digits).
ALTER TABLE metric_seconds ALTER COLUMN latency DROP DEFAULT;
ALTER TABLE metric_seconds ALTER COLUMN latency TYPE BYTEA USING decode(latency, 'base64');
ALTER TABLE metric_seconds ALTER COLUMN latency SET DEFAULT ''::bytea;
ALTER TABLE metric_seconds ALTER COLUMN service DROP DEFAULT;
ALTER TABLE metric_seconds ALTER COLUMN service TYPE BYTEA USING decode(service, 'base64');
ALTER TABLE metric_seconds ALTER COLUMN service SET DEFAULT ''::bytea;

-- A row (~3 KB for a wide distribution of a few thousand requests) is over
-- the 2 KB at which Postgres compresses and moves values out of line; lz4
-- does it about twice as fast as the default pglz for ~10 % more bytes
-- (bench/fleet/RESULTS.md). A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE metric_seconds ALTER COLUMN latency SET COMPRESSION lz4;
    ALTER TABLE metric_seconds ALTER COLUMN service SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'metric_seconds keeps the default compression: %', SQLERRM;
END $$;

COMMENT ON COLUMN metric_seconds.latency IS
    'Latency from the intended send time (coordinated-omission corrected), µs: HDR V2 bytes (uncompressed), 3 significant digits, as the agent measured it; empty = no request';
COMMENT ON COLUMN metric_seconds.service IS
    'Service time from the actual send, µs: HDR V2 bytes with 2 significant digits (coarsened when stored); empty = no request';

-- 2. When the fleet was last asked to grow and last released, so a
--    controller that starts cold (a new Lambda instance) releases after the
--    same quiet period as a warm one, and two controllers release once
--    (control::fleet::release_due).
CREATE TABLE fleet_state (
    id           BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    grown_at     TIMESTAMPTZ,
    released_at  TIMESTAMPTZ
);
INSERT INTO fleet_state DEFAULT VALUES;
COMMENT ON TABLE fleet_state IS
    'One row: when a run start last asked the fleet provider for agents, and when the run-controller last released the fleet (ALILO_FLEET_QUIET_SECS after the last run ended or the fleet grew)';

-- The end of the last run, read by idle controller passes.
CREATE INDEX runs_ended_at_idx ON runs (ended_at) WHERE ended_at IS NOT NULL;
