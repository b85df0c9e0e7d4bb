-- +goose Up
-- No query reads plan quota uses by pool and time (the usage pages read
-- the calls recorded with the free models' ones): the index only cost
-- every hold an entry.
DROP INDEX plan_quota_uses_pool;

-- +goose Down
CREATE INDEX plan_quota_uses_pool ON plan_quota_uses (pool_id, at DESC);
