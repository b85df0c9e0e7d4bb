package ledger_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// A Ledger meets a sub-account for the first time on its Reserve and
// presumes it is its own pool (no lookup first), so that reserve can land
// on another writer than the enterprise's. Concurrent reserves and commits
// on the enterprise and two new sub-accounts must still charge exactly
// what was committed, with a ledger that verifies.
func TestFirstReserveOfASubAccountRoutedBeforeItsPoolIsKnown(t *testing.T) {
	b := setup(t, ledger.Options{Writers: 4})
	ent := b.account(t, ledger.AccountEnterprise)
	b.credit(t, ent.ID, "1000", lotOpts{})
	accounts := []int64{ent.ID}
	for i := range 3 {
		sub, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Name: fmt.Sprint("team ", i)})
		require.NoError(t, err)
		accounts = append(accounts, sub.ID)
	}
	const workers, rounds = 24, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: accounts[(w+r)%len(accounts)], Amount: d("1"), IdempotencyKey: key()})
				if err != nil {
					errs <- err
					continue
				}
				if _, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("0.5")}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	requireDec(t, "940", b.available(t, ent.ID), "1000 - 24×5×0.5 charged")
	b.verifyClean(t)
}

// The sign rules on amounts (migration 000203 made them domains instead of
// table CHECKs) still refuse a negative balance or lot, even written by
// hand.
func TestAmountSignRulesStillHold(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "5", lotOpts{})
	pool := dbtest.Pool(t)
	for _, q := range []string{
		`UPDATE ledger_accounts SET balance = -1 WHERE id = $1`,
		`UPDATE ledger_accounts SET reserved = -1 WHERE id = $1`,
		`UPDATE ledger_lots SET remaining = -1 WHERE account_id = $1`,
		`UPDATE ledger_accounts SET parent_id = id WHERE id = $1`,
	} {
		_, err := pool.Exec(b.ctx, q, acc.ID)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr, q)
		require.Equal(t, "23514", pgErr.Code, q)
	}
	requireDec(t, "5", b.available(t, acc.ID))
}
