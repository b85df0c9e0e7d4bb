-- Code generated from River v0.51.1 (rivermigrate, line main, version 001); DO NOT EDIT.
-- Regenerate: UPDATE_RIVER_MIGRATIONS=1 go test ./internal/platform/jobs -run TestRiverSchemaMigrationsAreCurrent
-- +goose Up
-- +goose StatementBegin
CREATE TABLE river_migration(
  id bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT NOW(),
  version bigint NOT NULL,
  CONSTRAINT version CHECK (version >= 1)
);

CREATE UNIQUE INDEX ON river_migration USING btree(version);
-- +goose StatementEnd
-- +goose StatementBegin
INSERT INTO river_migration (version) VALUES (1);
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DROP TABLE river_migration;
-- +goose StatementEnd
