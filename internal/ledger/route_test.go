package ledger_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"
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

// Charge and Credit, like Reserve, presume an account they have not seen is
// its own pool (no lookup first). A fresh Ledger that meets the enterprise
// and its sub-accounts for the first time through concurrent charges and
// credits on four writers must still land every credit in the enterprise's
// pool and charge exactly, with a ledger that verifies; an unknown account
// is still refused as not found.
func TestFirstChargeAndCreditRoutedBeforeThePoolIsKnown(t *testing.T) {
	setupLedger := setup(t, ledger.Options{})
	ent := setupLedger.account(t, ledger.AccountEnterprise)
	accounts := []int64{ent.ID}
	for i := range 3 {
		sub, err := setupLedger.l.CreateAccount(setupLedger.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Name: fmt.Sprint("team ", i)})
		require.NoError(t, err)
		accounts = append(accounts, sub.ID)
	}
	setupLedger.credit(t, ent.ID, "1000", lotOpts{})
	b := setup(t, ledger.Options{Writers: 4}) // knows none of the pools
	const workers, rounds = 24, 5
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				acc := accounts[(w+r)%len(accounts)]
				if (w+r)%3 == 0 {
					res, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPromo, Amount: d("2"), IdempotencyKey: key()})
					if err == nil && res.Lot.PoolID != ent.ID {
						err = fmt.Errorf("credit of %d landed in pool %d, want %d", acc, res.Lot.PoolID, ent.ID)
					}
					if err != nil {
						errs <- err
					}
					continue
				}
				res, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d("1.5"), IdempotencyKey: key()})
				if err == nil && !res.Charged.Equal(d("1.5")) {
					err = fmt.Errorf("charged %s, want 1.5", res.Charged)
				}
				if err != nil {
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
	var credits, charges int
	for w := range workers {
		for r := range rounds {
			if (w+r)%3 == 0 {
				credits++
			} else {
				charges++
			}
		}
	}
	want := d("1000").Add(d("2").Mul(decimal.NewFromInt(int64(credits)))).Sub(d("1.5").Mul(decimal.NewFromInt(int64(charges))))
	requireDec(t, want.String(), b.available(t, ent.ID), "1000 + credits×2 − charges×1.5")
	b.verifyClean(t)

	_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: 1 << 40, Amount: d("1"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrNotFound)
	_, err = b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: 1 << 40, Kind: ledger.LotPaid, Amount: d("1"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrNotFound)
}
