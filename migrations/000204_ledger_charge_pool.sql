-- +goose Up
-- A charge's result names the pool whose lots it spent ("pool"), as a
-- reserve's does since 000203, so the Go side learns an account's pool from
-- its first charge instead of looking it up before it (see
-- internal/ledger/BENCH.md, fifth round). This migration redefined
-- ledger_charge; the function is now defined in
-- internal/ledger/schema/functions.sql, so nothing is left here.

-- +goose Down
