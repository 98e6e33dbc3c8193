-- Extended scripts (issue #9): what a script adds to each second of a job
-- (agent-api `ScriptBucket`: iterations, checks, requests by name, custom
-- metrics, exceptions), kept as the agent sent it so the backend can merge
-- it across agents exactly. NULL for simple scripts.
ALTER TABLE metric_seconds ADD COLUMN script JSONB
    CHECK (script IS NULL OR jsonb_typeof(script) = 'object');

COMMENT ON COLUMN metric_seconds.script IS
    'Extended scripts: the agent''s ScriptBucket for this second (checks, requests by name, custom metrics); NULL for simple scripts';
