package ledger_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// Thresholds no other test's pool reaches (the tier table is global to
// the package's database): ¥9,000,000 and ¥18,000,000.
const tier1Fen, tier2Fen = 900_000_000, 1_800_000_000

func setTiers(t *testing.T, b *testBundle, tiers []ledger.Tier) {
	t.Helper()
	require.NoError(t, pgx.BeginFunc(b.ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
		_, err := b.l.SetTiersTx(b.ctx, tx, tiers, "test")
		return err
	}))
}

// raceCapped sends n reserves of one credit at once, spread over
// accounts, and returns the holds made and how many the tier's cap
// refused; any other error fails the test.
func raceCapped(t *testing.T, b *testBundle, n int, accounts []int64) ([]ledger.Reservation, int) {
	t.Helper()
	var (
		mu      sync.Mutex
		made    []ledger.Reservation
		refused int
		errs    []error
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{TTL: time.Hour, AccountID: accounts[i%len(accounts)],
				Amount: d("1"), IdempotencyKey: "cap" + keyN(), Model: "m"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				made = append(made, r)
			case errors.Is(err, ledger.ErrConcurrencyLimit):
				refused++
			default:
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	require.Empty(t, errs)
	return made, refused
}

// A pool's tier caps its open reservations: 64 reserves at once against a
// cap of 10 make exactly 10, on an individual account (the batched fast
// path) and on an enterprise spent by its sub-accounts (the general
// path). A payment that crosses the next tier raises the cap at once, a
// refund of its fen lowers it again, closed and expired holds free room,
// and the ledger verifies clean.
func TestTierCapHoldsExactlyUnderConcurrency(t *testing.T) {
	b := setup(t, ledger.Options{})
	setTiers(t, b, []ledger.Tier{{MinPaidFen: tier1Fen, RPM: 100, TPM: 100000, MaxOpen: 10},
		{MinPaidFen: tier2Fen, RPM: 200, TPM: 200000, MaxOpen: 20}})
	t.Cleanup(func() { setTiers(t, b, nil) })

	ind := b.account(t, ledger.AccountIndividual)
	ent := b.account(t, ledger.AccountEnterprise)
	s1, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID})
	require.NoError(t, err)
	s2, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID})
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		pool    int64
		callers []int64
	}{{"Individual", ind.ID, []int64{ind.ID}}, {"Enterprise", ent.ID, []int64{s1.ID, s2.ID, ent.ID}}} {
		t.Run(tc.name, func(t *testing.T) {
			// a promotion is not a recharge: still no tier
			b.credit(t, tc.pool, "100000", lotOpts{kind: ledger.LotPromo})
			made, refused := raceCapped(t, b, 64, tc.callers)
			require.Len(t, made, 64, "no tier reached yet: no cap")
			require.Zero(t, refused)
			for _, r := range made {
				_, err := b.l.Release(b.ctx, r.ID)
				require.NoError(t, err)
			}

			paid, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: tc.pool, Kind: ledger.LotPaid, Amount: d("100000"),
				PaidFen: tier1Fen, IdempotencyKey: key(), Actor: "test", SourceRef: "order-tier1"})
			require.NoError(t, err)
			acct, err := b.l.Account(b.ctx, tc.pool)
			require.NoError(t, err)
			require.EqualValues(t, tier1Fen, acct.PaidFen)
			require.NotNil(t, acct.MaxOpen)
			require.Equal(t, 10, *acct.MaxOpen)

			made, refused = raceCapped(t, b, 64, tc.callers)
			require.Len(t, made, 10, "exactly the cap")
			require.Equal(t, 54, refused)

			// closing three frees three
			for _, r := range made[:2] {
				_, err := b.l.Release(b.ctx, r.ID)
				require.NoError(t, err)
			}
			_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: made[2].ID, Actual: d("0.5")})
			require.NoError(t, err)
			again, refused := raceCapped(t, b, 64, tc.callers)
			require.Len(t, again, 3)
			require.Equal(t, 61, refused)

			// a payment crossing tier 2 raises the cap at once: 10 more
			_, err = b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: tc.pool, Kind: ledger.LotPaid, Amount: d("100000"),
				PaidFen: tier2Fen - tier1Fen, IdempotencyKey: key(), Actor: "test", SourceRef: "order-tier2"})
			require.NoError(t, err)
			more, refused := raceCapped(t, b, 64, tc.callers)
			require.Len(t, more, 10, "tier 2 allows 20 open")
			require.Equal(t, 54, refused)

			// a refund of the first payment's fen takes the pool back to tier 1
			_, err = b.l.Refund(b.ctx, ledger.RefundRequest{LotID: paid.Lot.ID, Amount: d("1"), Fen: 1, IdempotencyKey: key(),
				Actor: "test", SourceRef: "refund-1"})
			require.NoError(t, err)
			acct, err = b.l.Account(b.ctx, tc.pool)
			require.NoError(t, err)
			require.EqualValues(t, tier2Fen-1, acct.PaidFen)
			require.Equal(t, 10, *acct.MaxOpen, "refunds are subtracted")
			_, refused = raceCapped(t, b, 8, tc.callers)
			require.Equal(t, 8, refused, "20 open, cap 10")

			// past their TTL, holds no longer count (before the sweep runs)
			b.clock.Add(2 * time.Hour)
			made, refused = raceCapped(t, b, 64, tc.callers)
			require.Len(t, made, 10)
			require.Equal(t, 54, refused)
			b.clock.Add(2 * time.Hour)
		})
	}
	// a smaller table lowers every pool's cap at once
	setTiers(t, b, []ledger.Tier{{MinPaidFen: tier1Fen, RPM: 100, TPM: 100000, MaxOpen: 2}})
	acct, err := b.l.Account(b.ctx, ind.ID)
	require.NoError(t, err)
	require.Equal(t, 2, *acct.MaxOpen)
	made, refused := raceCapped(t, b, 16, []int64{ind.ID})
	require.Len(t, made, 2)
	require.Equal(t, 14, refused)
	b.verifyClean(t)
}
