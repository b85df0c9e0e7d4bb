-- Code generated from River v0.51.1 (rivermigrate, line main, version 003); DO NOT EDIT.
-- Regenerate: UPDATE_RIVER_MIGRATIONS=1 go test ./internal/platform/jobs -run TestRiverSchemaMigrationsAreCurrent
-- +goose Up
-- +goose StatementBegin
ALTER TABLE river_job ALTER COLUMN tags SET DEFAULT '{}';
UPDATE river_job SET tags = '{}' WHERE tags IS NULL;
ALTER TABLE river_job ALTER COLUMN tags SET NOT NULL;
-- +goose StatementEnd
-- +goose StatementBegin
INSERT INTO river_migration (version) VALUES (3);
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
ALTER TABLE river_job
    ALTER COLUMN tags DROP NOT NULL,
    ALTER COLUMN tags DROP DEFAULT;
-- +goose StatementEnd
-- +goose StatementBegin
DELETE FROM river_migration WHERE version = 3;
-- +goose StatementEnd
