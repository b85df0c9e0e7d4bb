-- +goose Up
-- What every process caches (sessions, API keys, settings, rate cards) is
-- told to forget here: internal/platform/invalidate inserts a row and sends
-- its id with pg_notify in the writer's transaction, and every process
-- both LISTENs and polls the recent rows (the poll is the safety net for a
-- notification lost while a listener reconnects). Rows are only a few
-- minutes' worth: the pollers delete old ones.
CREATE TABLE cache_invalidations (
    id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic TEXT NOT NULL CHECK (topic <> '' AND length(topic) <= 64),
    key   TEXT NOT NULL CHECK (length(key) <= 200),
    at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX cache_invalidations_at_idx ON cache_invalidations (at);

-- +goose Down
DROP TABLE cache_invalidations;
