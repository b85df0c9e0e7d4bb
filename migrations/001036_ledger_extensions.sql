-- +goose Up
-- Operations of other packages that run in the ledger's writer batches
-- (internal/ledger Apply): each is a SQL function f(jsonb) RETURNS jsonb,
-- registered here by the repeatable SQL that defines it (which then calls
-- ledger_extensions_compile). A batch then
-- commits them with the ledger's own operations, one transaction and one
-- WAL flush for many calls, and keeps one pool's operations in order.
CREATE TABLE ledger_extensions (
    fn text PRIMARY KEY CHECK (fn ~ '^[a-z][a-z0-9_]*$')
);

-- +goose Down
DROP TABLE ledger_extensions;
