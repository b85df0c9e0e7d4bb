package invalidate_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
)

// TestTablesTellTheGateway: each change to what the gateway caches of an
// account — its rate limits, model allow-list, verification, status,
// enforcement, trial cap — and to the tier table sends a word from the
// table's trigger (migration 001690), whoever wrote it; a write of the
// running balance sends none.
func TestTablesTellTheGateway(t *testing.T) {
	ctx := context.Background()
	pool, hub, _ := process(t, invalidate.Options{})
	accounts, tiers := &heard{}, &heard{}
	hub.On(invalidate.Account, accounts.add)
	hub.On(invalidate.Tiers, tiers.add)
	owner := dbtest.Pool(t)

	var id int64
	require.NoError(t, owner.QueryRow(ctx, `
INSERT INTO ledger_accounts (id, pool_id, kind) VALUES (nextval('ledger_accounts_id_seq'), currval('ledger_accounts_id_seq'), 'individual')
RETURNING id`).Scan(&id))
	key := strconv.FormatInt(id, 10)
	hears := func(want int, why string) {
		t.Helper()
		require.Eventually(t, func() bool { return accounts.count(key) == want }, 2*time.Second, 10*time.Millisecond, why)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := owner.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
	}

	exec(`INSERT INTO gateway_accounts (account_id, rpm, tpm, updated_at) VALUES ($1, 7, 700, now())`, id)
	hears(1, "rate limits set")
	exec(`UPDATE gateway_accounts SET rpm = 8 WHERE account_id = $1`, id)
	hears(2, "rate limits changed")
	exec(`INSERT INTO access_model_lists (account_id, models, updated_at, updated_by) VALUES ($1, '{a}', now(), 'test')`, id)
	hears(3, "allow-list set")
	exec(`DELETE FROM access_model_lists WHERE account_id = $1`, id)
	hears(4, "allow-list removed")
	exec(`INSERT INTO verifications (account_id, source, state, submitted_at) VALUES ($1, 'external', 'pending', now())`, id)
	hears(5, "verification submitted")
	exec(`UPDATE verifications SET state = 'verified' WHERE account_id = $1`, id)
	hears(6, "verification decided")
	exec(`UPDATE ledger_accounts SET status = 'frozen' WHERE id = $1`, id)
	hears(7, "frozen")
	exec(`UPDATE ledger_accounts SET enforcement = 'shadow' WHERE id = $1`, id)
	hears(8, "enforcement")

	exec(`UPDATE ledger_accounts SET balance = 5, last_at = now() WHERE id = $1`, id)
	exec(`UPDATE ledger_accounts SET status = 'frozen' WHERE id = $1`, id)
	time.Sleep(1500 * time.Millisecond) // a poll and a half: nothing more arrives
	require.Equal(t, 8, accounts.count(key), "the running balance and an unchanged status send nothing")

	exec(`INSERT INTO ledger_tiers (min_paid_fen, rpm, tpm, max_open, updated_at, updated_by) VALUES (100, 1, 1, 1, now(), 'test')`)
	require.Eventually(t, func() bool { return tiers.count("") == 1 }, 2*time.Second, 10*time.Millisecond, "tier table")
	_ = pool
}
