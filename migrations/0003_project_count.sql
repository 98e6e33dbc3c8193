-- The number of projects, kept by triggers, so a page of the project list sums a
-- few small rows instead of counting every project (count(*) visits each row: it
-- grows with the table, and was over a third of the list's execution at 1,000).
-- The count is spread over slots, one per backend, so that concurrent creates do
-- not queue on one row's lock until they commit; the total is the slots' sum.
-- Like any small, often-updated table it relies on (auto)vacuum to stay small.

CREATE TABLE project_count (
    slot  INTEGER PRIMARY KEY,
    n     BIGINT NOT NULL
);

-- No project may come or go between the first count and the triggers.
LOCK TABLE projects IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO project_count (slot, n) SELECT s, 0 FROM generate_series(0, 31) s;
UPDATE project_count SET n = (SELECT count(*) FROM projects) WHERE slot = 0;

-- Once per statement (a bulk insert updates its slot once). A backend always uses
-- the same slot, so a transaction locks one slot and two cannot deadlock (TRUNCATE
-- locks them all, but it excludes every other writer of projects first).
CREATE FUNCTION count_projects() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE project_count SET n = n + (SELECT count(*) FROM added) WHERE slot = pg_backend_pid() % 32;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE project_count SET n = n - (SELECT count(*) FROM removed) WHERE slot = pg_backend_pid() % 32;
    ELSE
        UPDATE project_count SET n = 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER projects_counted_on_insert AFTER INSERT ON projects
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION count_projects();
CREATE TRIGGER projects_counted_on_delete AFTER DELETE ON projects
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION count_projects();
CREATE TRIGGER projects_counted_on_truncate AFTER TRUNCATE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION count_projects();
