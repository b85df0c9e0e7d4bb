-- +goose Up
-- What a hold needs to count in a pool's budgets without reading them
-- (ledger_budget_hold's fast path), slot by slot beside budget_ids:
-- budget_scopes is the budget's scope ("account|project|key"), budget_ends
-- where the period its counter is in ends (infinity without a period) and
-- budget_limits the use below which a hold is uneventful (under the next
-- threshold not yet reached in the period and, for a hard stop, under the
-- cap). A hold that would reach a limit or pass an end takes the full path,
-- which records alerts, refuses, or starts a new period, and sets them
-- again. -infinity / 0 send the next hold down the full path.
ALTER TABLE ledger_accounts
    ADD COLUMN budget_scopes text[],
    ADD COLUMN budget_ends timestamptz[],
    ADD COLUMN budget_limits numeric[];

UPDATE ledger_accounts a SET
    budget_scopes = ARRAY(SELECT (SELECT b.account_id || '|' || b.project || '|' || b.key_label
                                  FROM ledger_budgets b WHERE b.pool_id = a.id AND b.id = s.id)
                          FROM unnest(a.budget_ids) WITH ORDINALITY s(id, n) ORDER BY s.n),
    budget_ends = array_fill('-infinity'::timestamptz, ARRAY[cardinality(a.budget_ids)]),
    budget_limits = array_fill(0::numeric, ARRAY[cardinality(a.budget_ids)])
WHERE a.budget_ids IS NOT NULL;

-- +goose Down
ALTER TABLE ledger_accounts DROP COLUMN budget_limits, DROP COLUMN budget_ends, DROP COLUMN budget_scopes;
