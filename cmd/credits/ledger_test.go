package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// TestLedgerVerifyFailsAndNamesTheTamperedPool: `credits ledger verify`
// exits 0 on a healthy ledger, and on one whose history was rewritten (the
// append-only trigger disabled by the tables' owner, in this test's own
// database) exits 1, prints the broken rule with the pool and the event,
// and names the pool in its one-line error — and not the healthy pool.
func TestLedgerVerifyFailsAndNamesTheTamperedPool(t *testing.T) {
	ctx := context.Background()
	pool, url := dbtest.Own(t)
	l := ledger.New(pool, ledger.Options{})
	defer l.Close()
	var accs []ledger.Account
	for i := range 2 {
		a, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: t.Name()})
		require.NoError(t, err)
		_, err = l.Credit(ctx, ledger.CreditRequest{AccountID: a.ID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(100), IdempotencyKey: fmt.Sprintf("top-up-%d", i)})
		require.NoError(t, err)
		r, err := l.Reserve(ctx, ledger.ReserveRequest{AccountID: a.ID, Amount: decimal.NewFromInt(30), IdempotencyKey: fmt.Sprintf("call-%d", i)})
		require.NoError(t, err)
		_, err = l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Actual: decimal.NewFromInt(12)})
		require.NoError(t, err)
		accs = append(accs, a)
	}
	healthy, tampered := accs[0], accs[1]
	env := []string{"DATABASE_URL=" + url}

	code, stdout, stderr := runCreditsOutput(t, env, "ledger verify")
	require.Zero(t, code, stderr)
	require.Contains(t, stdout, "every pool's event chain, balance, lots, reserved total and holds agree")

	// `ledger storage` names each hot table with its size and its indexes.
	code, stdout, stderr = runCreditsOutput(t, env, "ledger storage")
	require.Zero(t, code, stderr)
	for _, name := range []string{"ledger_events", "ledger_events_pkey", "ledger_reservations", "ledger_idempotency"} {
		require.Regexp(t, `(?m)^\s*`+name+`\s+[1-9][0-9]* bytes`, stdout)
	}

	// `ledger retire` runs as the owner role; it refuses a window a retry
	// could outlast, and moves nothing younger than the window.
	code, _, stderr = runCreditsOutput(t, env, "ledger retire -window 1h")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "shorter than LATE_EVENT_WINDOW + RESERVATION_TTL")
	code, stdout, stderr = runCreditsOutput(t, env, "ledger retire")
	require.Zero(t, code, stderr)
	require.Contains(t, stdout, "moved 0 closed reservations and 0 idempotency records")
	require.Contains(t, stdout, "monthly event partitions created ahead")

	// `ledger archive` (owner role) lets a month leave only once the
	// revenue report has closed it; `ledger restore` checks the file.
	code, _, stderr = runCreditsOutput(t, env, "ledger archive -dir "+t.TempDir()+" before")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "close the month first")
	code, _, stderr = runCreditsOutput(t, env, "ledger restore "+filepath.Join(t.TempDir(), "ledger_events_before.copy.gz"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "ledger_events_before.sha256")

	var event int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM ledger_events WHERE pool_id = $1 AND type = 'deduction'`, tampered.ID).Scan(&event))
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	for _, q := range []string{
		`ALTER TABLE ledger_events DISABLE TRIGGER USER`,
		fmt.Sprintf(`UPDATE ledger_events SET amount = amount + 2 WHERE id = %d`, event), // 2 credits of usage erased
		`ALTER TABLE ledger_events ENABLE TRIGGER USER`,
	} {
		_, err := tx.Exec(ctx, q)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))

	code, stdout, stderr = runCreditsOutput(t, env, "ledger verify")
	require.Equal(t, 1, code)
	require.Contains(t, stdout, fmt.Sprintf("pool %d: event chain: event %d has balance_after 88, the previous balance_after plus its amount is 90", tampered.ID, event))
	require.Contains(t, stdout, fmt.Sprintf("pool %d: balance = events: balance 88, its events add up to 90", tampered.ID))
	require.Contains(t, stdout, fmt.Sprintf("pool %d: lot remaining:", tampered.ID))
	require.NotContains(t, stdout, fmt.Sprintf("pool %d:", healthy.ID))
	require.Equal(t, fmt.Sprintf("credits ledger: verify found 3 mismatches in pool %d (each listed above)", tampered.ID), oneLine(t, stderr))
}
