package ledger_test

import (
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func (b *testBundle) setMode(t *testing.T, accountID int64, m ledger.Enforcement) {
	t.Helper()
	var mode *ledger.Enforcement
	if m != "" {
		mode = &m
	}
	require.NoError(t, pgx.BeginFunc(b.ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
		return b.l.SetEnforcementTx(b.ctx, tx, accountID, mode)
	}))
}

// Each mode against each refusal the ledger makes for credit, a
// sub-account's allocation, a hard-stop budget and the tier's cap: enforce
// refuses; shadow lets the call through and records the refusal (a call
// credit would refuse holds nothing, its commit charges what is there and
// records the rest as unpaid, never a negative balance; a budget past its
// cap counts the call); off lets it through and records nothing.
func TestEnforcementModes(t *testing.T) {
	b := setup(t, ledger.Options{})
	reserve := func(acc int64, amount string, project string) (ledger.Reservation, error) {
		return b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc, Amount: d(amount), IdempotencyKey: key(), TTL: time.Hour,
			Model: "m", Project: project})
	}
	refusals := func(acc int64) int64 {
		n, _, err := b.l.ShadowRefusals(b.ctx, acc, 10)
		require.NoError(t, err)
		return n
	}
	for _, mode := range []ledger.Enforcement{ledger.EnforceAll, ledger.EnforceShadow, ledger.EnforceOff} {
		t.Run(string(mode), func(t *testing.T) {
			t.Run("Credit", func(t *testing.T) {
				acc := b.account(t, ledger.AccountIndividual)
				b.credit(t, acc.ID, "10", lotOpts{})
				b.setMode(t, acc.ID, mode)
				r, err := reserve(acc.ID, "25", "")
				switch mode {
				case ledger.EnforceAll:
					require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
					require.Zero(t, refusals(acc.ID))
					return
				case ledger.EnforceShadow:
					require.NoError(t, err)
					require.Equal(t, "insufficient_credits", r.ShadowRefusal)
					requireDec(t, "25", r.Requested)
					require.EqualValues(t, 1, refusals(acc.ID))
				case ledger.EnforceOff:
					require.NoError(t, err)
					require.Empty(t, r.ShadowRefusal)
					require.Zero(t, refusals(acc.ID))
				}
				requireDec(t, "0", r.Amount, "nothing held")
				requireDec(t, "10", b.available(t, acc.ID))
				c, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: r.ID, Actual: d("25")})
				require.NoError(t, err)
				requireDec(t, "10", c.Charged)
				requireDec(t, "15", c.Unpaid, "the shortfall is recorded as unpaid usage")
				requireDec(t, "0", b.available(t, acc.ID), "never below zero")
			})
			t.Run("Allocation", func(t *testing.T) {
				ent := b.account(t, ledger.AccountEnterprise)
				b.credit(t, ent.ID, "100", lotOpts{})
				five := d("5")
				sub, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Allocation: &five})
				require.NoError(t, err)
				b.setMode(t, ent.ID, mode) // a sub-account follows its enterprise
				r, err := reserve(sub.ID, "8", "")
				if mode == ledger.EnforceAll {
					require.ErrorIs(t, err, ledger.ErrAllocationExceeded)
					return
				}
				require.NoError(t, err)
				requireDec(t, "0", r.Amount)
				if mode == ledger.EnforceShadow {
					require.Equal(t, "allocation_exceeded", r.ShadowRefusal)
					require.EqualValues(t, 1, refusals(sub.ID))
				} else {
					require.Zero(t, refusals(sub.ID))
				}
			})
			t.Run("Budget", func(t *testing.T) {
				acc := b.account(t, ledger.AccountIndividual)
				b.credit(t, acc.ID, "100", lotOpts{})
				id := b.setBudget(t, ledger.BudgetSpec{AccountID: acc.ID, Project: "p", Amount: d("10"), HardStop: true})
				b.setMode(t, acc.ID, mode)
				_, err := reserve(acc.ID, "8", "p")
				require.NoError(t, err)
				r, err := reserve(acc.ID, "8", "p")
				switch mode {
				case ledger.EnforceAll:
					require.ErrorIs(t, err, ledger.ErrBudgetExceeded)
					requireDec(t, "8", b.budget(t, acc.ID, id).Used)
				case ledger.EnforceShadow:
					require.NoError(t, err)
					require.Equal(t, "budget_exceeded", r.ShadowRefusal)
					requireDec(t, "8", r.Amount, "credit covers it: held as usual")
					requireDec(t, "16", b.budget(t, acc.ID, id).Used, "the budget shows it past its cap")
					require.EqualValues(t, 1, refusals(acc.ID))
					ch, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: key(),
						Model: "m", Project: "p", OccurredAt: b.clock.Now()})
					require.NoError(t, err)
					require.Equal(t, "budget_exceeded", ch.ShadowRefusal, "a usage charge too")
					require.EqualValues(t, 2, refusals(acc.ID))
				case ledger.EnforceOff:
					require.NoError(t, err)
					require.Empty(t, r.ShadowRefusal)
					requireDec(t, "0", r.Amount, "off holds nothing")
					require.Zero(t, refusals(acc.ID))
				}
			})
			t.Run("ConcurrencyCap", func(t *testing.T) {
				setTiers(t, b, []ledger.Tier{{MinPaidFen: tier1Fen, RPM: 1, TPM: 1, MaxOpen: 1}})
				defer setTiers(t, b, nil)
				acc := b.account(t, ledger.AccountIndividual)
				_, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: d("100"),
					PaidFen: tier1Fen, IdempotencyKey: key(), Actor: "test", SourceRef: "o"})
				require.NoError(t, err)
				b.setMode(t, acc.ID, mode)
				_, err = reserve(acc.ID, "1", "")
				require.NoError(t, err)
				r, err := reserve(acc.ID, "1", "")
				switch mode {
				case ledger.EnforceAll:
					require.ErrorIs(t, err, ledger.ErrConcurrencyLimit)
				case ledger.EnforceShadow:
					require.NoError(t, err)
					require.Equal(t, "concurrency_limit", r.ShadowRefusal)
					requireDec(t, "1", r.Amount)
				case ledger.EnforceOff:
					require.NoError(t, err)
					require.Empty(t, r.ShadowRefusal)
				}
			})
		})
	}
	b.verifyClean(t)
}

// 64 reserves of 1 race in shadow mode on an account holding 20: every
// call goes through, exactly 20 hold 1 and 44 hold nothing with their
// refusal recorded; committing all 64 charges the 20 held and records 44
// unpaid; the balance ends at 0, and the ledger verifies clean.
func TestShadowModeUnderConcurrency(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "20", lotOpts{})
	b.setMode(t, acc.ID, ledger.EnforceShadow)
	var (
		mu   sync.Mutex
		made []ledger.Reservation
		errs []error
		wg   sync.WaitGroup
		go1  = make(chan struct{})
	)
	for range 64 {
		wg.Go(func() {
			<-go1
			r, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: key(),
				TTL: time.Hour, Model: "m"})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			made = append(made, r)
		})
	}
	close(go1)
	wg.Wait()
	require.Empty(t, errs)
	require.Len(t, made, 64, "shadow refuses nothing")
	held, shadow := 0, 0
	for _, r := range made {
		switch {
		case r.ShadowRefusal == "insufficient_credits":
			shadow++
			requireDec(t, "0", r.Amount)
		case r.Amount.Equal(d("1")):
			held++
		}
	}
	require.Equal(t, 20, held)
	require.Equal(t, 44, shadow)
	n, _, err := b.l.ShadowRefusals(b.ctx, acc.ID, 1)
	require.NoError(t, err)
	require.EqualValues(t, 44, n)
	unpaid := d("0")
	for _, r := range made {
		c, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: r.ID, Actual: d("1")})
		require.NoError(t, err)
		unpaid = unpaid.Add(c.Unpaid)
	}
	requireDec(t, "44", unpaid)
	requireDec(t, "0", b.available(t, acc.ID))
	b.verifyClean(t)
}
