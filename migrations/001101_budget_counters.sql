-- +goose Up
-- Budget counters move to the pool's account row (see ledger_budget_hold):
-- slot n of budget_ids, budget_starts and budget_used is the budget whose
-- slot is n, the start of the period it last counted in, and what that
-- period used. A hold reads and writes them with the pool's running state,
-- which the ledger's batches keep in a variable and write once per pool
-- per batch, instead of updating one row per budget per call (that cost
-- reserve + commit about half its throughput with three nested budgets).
-- A deleted budget's slot is emptied (its id NULL) and never reused, so a
-- hold that counted in it settles into nothing.
ALTER TABLE ledger_accounts
    ADD COLUMN budget_ids bigint[],
    ADD COLUMN budget_starts timestamptz[],
    ADD COLUMN budget_used numeric[];
ALTER TABLE ledger_budgets ADD COLUMN slot integer;
ALTER TABLE ledger_reservations ADD COLUMN budget_slots integer[];

UPDATE ledger_budgets b SET slot = s.n
FROM (SELECT pool_id, id, row_number() OVER (PARTITION BY pool_id ORDER BY id) AS n FROM ledger_budgets) s
WHERE b.pool_id = s.pool_id AND b.id = s.id;
UPDATE ledger_accounts a SET budget_ids = x.ids, budget_starts = x.starts, budget_used = x.used
FROM (SELECT pool_id, array_agg(id ORDER BY slot) AS ids, array_agg(period_start ORDER BY slot) AS starts,
             array_agg(used ORDER BY slot) AS used
      FROM ledger_budgets GROUP BY pool_id) x
WHERE a.id = x.pool_id;
-- holds made before: their budgets' slots, so that their commits settle
UPDATE ledger_reservations r SET budget_slots = ARRAY(
    SELECT b.slot FROM unnest(r.budget_ids) WITH ORDINALITY u(id, n)
    JOIN ledger_budgets b ON b.pool_id = r.pool_id AND b.id = u.id ORDER BY u.n)
WHERE r.budget_ids IS NOT NULL AND r.status = 'open';

ALTER TABLE ledger_budgets
    ALTER COLUMN slot SET NOT NULL,
    DROP COLUMN used,
    DROP COLUMN period_start;

-- +goose Down
ALTER TABLE ledger_budgets
    ADD COLUMN period_start timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN used numeric(24, 6) NOT NULL DEFAULT 0;
UPDATE ledger_budgets b SET period_start = coalesce(a.budget_starts[b.slot], '-infinity'), used = coalesce(a.budget_used[b.slot], 0)
FROM ledger_accounts a WHERE a.id = b.pool_id;
ALTER TABLE ledger_budgets DROP COLUMN slot;
ALTER TABLE ledger_reservations DROP COLUMN budget_slots;
ALTER TABLE ledger_accounts DROP COLUMN budget_used, DROP COLUMN budget_starts, DROP COLUMN budget_ids;
