package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// benchRawCeiling measures the batched raw-SQL ceiling (issue 21): the
// rows a reserve and a commit write — a lot update, the reservation event,
// the reservation, the idempotency record; then the release and deduction
// events, the lot's give-back and the reservation's close; the account's
// running state once per account per batch — written by plain SQL into
// copies of the ledger's tables (same columns, constraints and indexes),
// pipelined in transactions of batchOps operations (the size the ledger's
// writers reach), writers connections at once, durability on. It is the
// PostgreSQL limit for this design: the ledger's rate over it says what
// its functions, checks and batching cost. Operations per second, counting
// a reserve and a commit as one each.
func benchRawCeiling(ctx context.Context, pool *pgxpool.Pool, accounts, writers, batchOps int, d time.Duration) (float64, error) {
	const setup = `
DROP TABLE IF EXISTS bench_raw_events, bench_raw_reservations, bench_raw_idempotency, bench_raw_lots, bench_raw_accounts;
CREATE TABLE bench_raw_accounts (LIKE ledger_accounts INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE TABLE bench_raw_lots (LIKE ledger_lots INCLUDING ALL);
CREATE TABLE bench_raw_events (LIKE ledger_events INCLUDING ALL);
CREATE TABLE bench_raw_reservations (LIKE ledger_reservations INCLUDING ALL);
CREATE TABLE bench_raw_idempotency (LIKE ledger_idempotency INCLUDING ALL);`
	if _, err := pool.Exec(ctx, setup); err != nil {
		return 0, fmt.Errorf("raw ceiling setup: %w", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO bench_raw_accounts (id, pool_id, kind, name, balance)
SELECT g, g, 'individual', 'bench', 1000000000 FROM generate_series(1, $1::int) g`, accounts); err != nil {
		return 0, fmt.Errorf("raw ceiling setup: %w", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO bench_raw_lots (pool_id, id, account_id, kind, amount, remaining, created_at)
OVERRIDING SYSTEM VALUE SELECT g, g, g, 'paid', 1000000000, 1000000000, now() FROM generate_series(1, $1::int) g`, accounts); err != nil {
		return 0, fmt.Errorf("raw ceiling setup: %w", err)
	}
	var resSeq, keySeq atomic.Int64
	pairs := max(batchOps/2, 1)
	tx := func(ctx context.Context, rng *rand.Rand) (time.Duration, int, error) {
		start := time.Now()
		b := &pgx.Batch{} // one implicit transaction: one Sync, one commit
		seen := map[int]bool{}
		for range pairs {
			acc := rng.IntN(accounts) + 1
			res := resSeq.Add(1)
			key := "r" + strconv.FormatInt(keySeq.Add(1), 10)
			b.Queue(`UPDATE bench_raw_lots SET remaining = remaining - 1 WHERE pool_id = $1 AND id = $1`, acc)
			b.Queue(`INSERT INTO bench_raw_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, reservation_id,
				idempotency_key, model, detail, occurred_at, at) VALUES ($1, $1, $1, $2, 'reservation', -1, 0, $2, '', 'bench', NULL, now(), now())`, acc, res)
			b.Queue(`INSERT INTO bench_raw_reservations (pool_id, id, account_id, amount, holds, status, expires_at, model, created_at)
				OVERRIDING SYSTEM VALUE VALUES ($1, $2, $1, 1, jsonb_build_array(jsonb_build_object('lot', $1::bigint, 'amount', 1, 'kind', 'paid')),
				'open', now() + interval '1 minute', 'bench', now())`, acc, res)
			b.Queue(`INSERT INTO bench_raw_idempotency (pool_id, account_id, key, op, args_hash, result)
				VALUES ($1, $1, $2, 'reserve', 'h', jsonb_build_object('reservation_id', $3::bigint, 'amount', 1))`, acc, key, res)
			b.Queue(`INSERT INTO bench_raw_events (pool_id, account_id, lot_id, op_id, type, amount, balance_after, reservation_id,
				idempotency_key, model, occurred_at, at) VALUES ($1, $1, $1, $2, 'reservation_release', 1, 1, $2, '', 'bench', now(), now()),
				($1, $1, $1, $2, 'deduction', -0.8, 0.2, $2, 'c', 'bench', now(), now())`, acc, res)
			b.Queue(`UPDATE bench_raw_lots SET remaining = remaining + 0.2 WHERE pool_id = $1 AND id = $1`, acc)
			b.Queue(`UPDATE bench_raw_reservations SET status = 'committed', closed_at = now(), close_key = 'c', close_op = 'commit',
				close_hash = 'h', close_result = jsonb_build_object('charged', 0.8) WHERE pool_id = $1 AND id = $2`, acc, res)
			seen[acc] = true
		}
		for acc := range seen {
			b.Queue(`UPDATE bench_raw_accounts SET balance = balance - 0.8, last_at = now() WHERE id = $1`, acc)
		}
		err := pool.SendBatch(ctx, b).Close()
		return time.Since(start), 2 * pairs, err
	}
	ops, _, err := drive(ctx, writers, d, tx)
	return ops, err
}
