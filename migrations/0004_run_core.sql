-- The run-controller without a lock across agent calls (issue 11).
--
-- `version` is bumped by every change of a run's desired state (start, stop,
-- adjustment, increase, stop of a script run, commands). A controller pass loads
-- it with the run, talks to the agents with no transaction open, and writes its
-- roll-up of statuses only `WHERE version = <loaded>`: a change made meanwhile
-- wins, and the next pass redoes the roll-up from the new state.
--
-- `claimed_by`/`claimed_until` is a controller's short claim on a run for one
-- pass (taken in the load transaction, released in the record transaction), so
-- two controllers never act on the same run at once; a claim left by a controller
-- that died runs out by itself.
ALTER TABLE runs
    ADD COLUMN version        BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN claimed_by     TEXT,
    ADD COLUMN claimed_until  TIMESTAMPTZ;

COMMENT ON COLUMN runs.version IS 'bumped by every change of desired state; guards the controller''s roll-up';
COMMENT ON COLUMN runs.claimed_by IS 'the controller working on the run this pass (with claimed_until)';
