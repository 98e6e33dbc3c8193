-- What `alilo-local import-original` brought over from the original platform
-- (#14): one row per imported row, so a second import changes nothing and a
-- row whose id was taken here can be found by its original id.
CREATE TABLE original_import (
    kind        TEXT NOT NULL CHECK (kind IN ('project', 'scenario', 'script', 'simple_script', 'agent')),
    source_id   BIGINT NOT NULL,
    target_id   BIGINT NOT NULL,
    imported_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, source_id)
);
COMMENT ON TABLE original_import IS 'Rows imported from the original platform: its id and ours, per kind.';
