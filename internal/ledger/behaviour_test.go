package ledger_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestEventsAreAppendOnlyEvenForTheOwner(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "10", lotOpts{})
	pool := dbtest.Pool(t)
	var isSuper bool
	require.NoError(t, pool.QueryRow(b.ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&isSuper))
	for name, q := range map[string]string{
		"update":   `UPDATE ledger_events SET amount = 1000000 WHERE pool_id = $1`,
		"delete":   `DELETE FROM ledger_events WHERE pool_id = $1`,
		"truncate": `TRUNCATE ledger_events`,
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			if name == "truncate" {
				_, err = pool.Exec(b.ctx, q)
			} else {
				_, err = pool.Exec(b.ctx, q, acc.ID)
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), "append-only")
		})
	}
	t.Logf("refused for %s (superuser=%v, table owner)", "current_user", isSuper)
	evs, _, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{}, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	requireDec(t, "10", evs[0].Amount, "the purchase is unchanged")
}

func TestReserveFailsCleanlyWhenShort(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "10", lotOpts{})
	_, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("10.000001"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
	var se *ledger.ShortfallError
	require.ErrorAs(t, err, &se)
	requireDec(t, "10", se.Available)
	require.Equal(t, "insufficient_credits", ledger.Code(err))
	requireDec(t, "10", b.available(t, acc.ID), "nothing was held")
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("0"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrInvalidAmount)
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("1")})
	require.ErrorIs(t, err, ledger.ErrMissingIdempotencyKey)
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: 987654321, Amount: d("1"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrNotFound)
	b.verifyClean(t)
}

func TestCommitBeyondHold(t *testing.T) {
	tests := []struct {
		name                              string
		funds, hold, actual               string
		charged, released, unpaid, remain string
	}{
		{"under the hold releases the rest", "100", "40", "25", "25", "15", "0", "75"},
		{"exactly the hold", "100", "40", "40", "40", "0", "0", "60"},
		{"over the hold charges the excess from available", "100", "40", "70", "70", "0", "0", "30"},
		{"over everything records unpaid usage", "100", "40", "130", "100", "0", "30", "0"},
		{"zero actual releases all", "100", "40", "0", "0", "40", "0", "100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, ledger.Options{})
			acc := b.account(t, ledger.AccountIndividual)
			b.credit(t, acc.ID, tt.funds, lotOpts{})
			res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d(tt.hold), IdempotencyKey: key()})
			require.NoError(t, err)
			cr, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d(tt.actual), Detail: json.RawMessage(`{"output_tokens": 1200}`)})
			require.NoError(t, err)
			requireDec(t, tt.charged, cr.Charged, "charged")
			requireDec(t, tt.released, cr.Released, "released")
			requireDec(t, tt.unpaid, cr.Unpaid, "unpaid")
			requireDec(t, tt.remain, cr.Available, "available")
			requireDec(t, tt.remain, b.available(t, acc.ID))
			if !d(tt.unpaid).IsZero() {
				evs, _, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{Types: []ledger.EventType{ledger.EventUnpaidUsage}}, 0, 10)
				require.NoError(t, err)
				require.Len(t, evs, 1)
				requireDec(t, tt.unpaid, evs[0].Unpaid)
				require.JSONEq(t, `{"output_tokens": 1200}`, string(evs[0].Detail))
			}
			b.verifyClean(t)
		})
	}
}

func TestCommitRoundsOnceHalfEven(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "1", lotOpts{})
	res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("0.5"), IdempotencyKey: key()})
	require.NoError(t, err)
	cr, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("0.0000125")})
	require.NoError(t, err)
	requireDec(t, "0.000012", cr.Charged, "0.0000125 rounds half-even to 0.000012")
	requireDec(t, "0.999988", cr.Available)
}

func TestReservationTTL(t *testing.T) {
	for _, policy := range []ledger.ExpiredReservationPolicy{ledger.ExpiredRelease, ledger.ExpiredCharge} {
		t.Run(string(policy), func(t *testing.T) {
			b := setup(t, ledger.Options{ExpiredReservations: policy})
			acc := b.account(t, ledger.AccountIndividual)
			b.credit(t, acc.ID, "100", lotOpts{})
			res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("40"), IdempotencyKey: key(), TTL: time.Minute})
			require.NoError(t, err)
			n, err := b.l.SweepReservations(b.ctx, 100)
			require.NoError(t, err)
			require.Zero(t, n, "not yet due")
			b.clock.Add(61 * time.Second)
			_, err = b.l.SweepReservations(b.ctx, 100)
			require.NoError(t, err)
			bal, err := b.l.Balance(b.ctx, acc.ID)
			require.NoError(t, err)
			requireDec(t, "0", bal.Reserved)
			if policy == ledger.ExpiredRelease {
				requireDec(t, "100", bal.Available, "the hold came back")
			} else {
				requireDec(t, "60", bal.Available, "the hold was charged")
			}
			cr, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("50")})
			require.NoError(t, err, "a late commit still charges")
			requireDec(t, "50", b.available(t, acc.ID))
			if policy == ledger.ExpiredRelease {
				requireDec(t, "50", cr.Charged)
			} else {
				requireDec(t, "10", cr.Charged, "only the excess over the charged hold")
			}
			b.verifyClean(t)
		})
	}
}

func TestReleaseGivesTheHoldBackOnce(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "10", lotOpts{})
	res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("10"), IdempotencyKey: key()})
	require.NoError(t, err)
	requireDec(t, "0", b.available(t, acc.ID))
	rr, err := b.l.Release(b.ctx, res.ID)
	require.NoError(t, err)
	requireDec(t, "10", rr.Released)
	again, err := b.l.Release(b.ctx, res.ID)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	requireDec(t, "10", b.available(t, acc.ID))
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("1")})
	require.ErrorIs(t, err, ledger.ErrReservationClosed)
	b.verifyClean(t)
}

func TestExpiry(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "100", lotOpts{})
	promo := b.credit(t, acc.ID, "30", lotOpts{kind: ledger.LotPromo, expires: 24 * time.Hour})
	b.credit(t, acc.ID, "20", lotOpts{kind: ledger.LotPlan, expires: 72 * time.Hour})
	_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("10"), IdempotencyKey: key()})
	require.NoError(t, err)

	bal, err := b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	require.Len(t, bal.Expiring, 2)
	requireDec(t, "20", bal.Expiring[0].Amount, "promo was spent first")
	requireDec(t, "20", bal.Expiring[1].Amount)

	b.clock.Add(25 * time.Hour)
	requireDec(t, "120", b.available(t, acc.ID), "an expired lot is not spendable even before the sweep")
	for range 2 { // a second sweep finds nothing more
		_, err := b.l.ExpireDue(b.ctx, 1)
		require.NoError(t, err)
	}
	evs, _, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{Types: []ledger.EventType{ledger.EventExpiry}}, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, promo.ID, *evs[0].LotID)
	requireDec(t, "-20", evs[0].Amount)
	requireDec(t, "120", b.available(t, acc.ID))
	b.verifyClean(t)
}

func TestConcurrentExpirySweepsExpireOnce(t *testing.T) {
	b := setup(t, ledger.Options{})
	var accs []int64
	for range 20 {
		a := b.account(t, ledger.AccountIndividual)
		accs = append(accs, a.ID)
		b.credit(t, a.ID, "5", lotOpts{kind: ledger.LotPromo, expires: time.Hour})
	}
	b.clock.Add(2 * time.Hour)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				n, err := b.l.ExpireDue(b.ctx, 3)
				if err != nil || n == 0 {
					errs <- err
					return
				}
			}
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
	for _, a := range accs {
		evs, _, err := b.l.Events(b.ctx, a, ledger.EventFilter{Types: []ledger.EventType{ledger.EventExpiry}}, 0, 10)
		require.NoError(t, err)
		require.Len(t, evs, 1, "exactly one expiry per lot")
	}
	b.verifyClean(t)
}

func TestRefunds(t *testing.T) {
	tests := []struct {
		name    string
		spent   string
		refund  string
		kind    ledger.LotKind
		wantErr error
		remain  string
	}{
		{"full refund of an unspent lot", "0", "100", ledger.LotPaid, nil, "0"},
		{"partial refund of a partly spent lot", "30", "50", ledger.LotPaid, nil, "20"},
		{"the whole unconsumed part", "30", "70", ledger.LotPaid, nil, "0"},
		{"more than remains", "30", "70.000001", ledger.LotPaid, ledger.ErrRefundExceedsLot, "70"},
		{"promo is not refundable", "0", "1", ledger.LotPromo, ledger.ErrNotRefundable, "100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, ledger.Options{})
			acc := b.account(t, ledger.AccountIndividual)
			lot := b.credit(t, acc.ID, "100", lotOpts{kind: tt.kind})
			if !d(tt.spent).IsZero() {
				_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d(tt.spent), IdempotencyKey: key()})
				require.NoError(t, err)
			}
			k := key()
			rr, err := b.l.Refund(b.ctx, ledger.RefundRequest{LotID: lot.ID, Amount: d(tt.refund), IdempotencyKey: k, Actor: "staff:1", Reason: "customer_request"})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
				requireDec(t, tt.remain, rr.Remaining)
				again, err := b.l.Refund(b.ctx, ledger.RefundRequest{LotID: lot.ID, Amount: d(tt.refund), IdempotencyKey: k, Actor: "staff:1", Reason: "customer_request"})
				require.NoError(t, err)
				require.True(t, again.Replayed, "a retried refund refunds once")
			}
			requireDec(t, tt.remain, b.available(t, acc.ID))
			b.verifyClean(t)
		})
	}
}

func TestRefundTxRollsBackWithTheCaller(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	lot := b.credit(t, acc.ID, "100", lotOpts{})
	tx, err := dbtest.Pool(t).Begin(b.ctx)
	require.NoError(t, err)
	_, err = b.l.RefundTx(b.ctx, tx, ledger.RefundRequest{LotID: lot.ID, Amount: d("40"), IdempotencyKey: key()})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(b.ctx))
	requireDec(t, "100", b.available(t, acc.ID))
}

func TestCreditTxCommitsWithTheCaller(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	k := key()
	err := pgx.BeginFunc(b.ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
		_, err := b.l.CreditTx(b.ctx, tx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: d("12.5"), IdempotencyKey: k, SourceRef: "order-9"})
		return err
	})
	require.NoError(t, err)
	requireDec(t, "12.5", b.available(t, acc.ID))
	r, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: d("12.5"), IdempotencyKey: k, SourceRef: "order-9"})
	require.NoError(t, err)
	require.True(t, r.Replayed, "the payment callback retried: credited once")
	requireDec(t, "12.5", b.available(t, acc.ID))
}

func TestIdempotency(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "100", lotOpts{})
	k := key()
	first, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("10"), IdempotencyKey: k})
	require.NoError(t, err)
	tests := []struct {
		name    string
		run     func() error
		wantErr error
	}{
		{"same reserve returns the first reservation", func() error {
			r, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("10.0000001"), IdempotencyKey: k})
			if err == nil && r.ID != first.ID {
				t.Fatalf("got reservation %d, want %d", r.ID, first.ID)
			}
			return err
		}, nil},
		{"same key other amount", func() error {
			_, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("11"), IdempotencyKey: k})
			return err
		}, ledger.ErrIdempotencyConflict},
		{"same key other operation", func() error {
			_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("10"), IdempotencyKey: k})
			return err
		}, ledger.ErrIdempotencyConflict},
		{"same key on another account is independent", func() error {
			other := b.account(t, ledger.AccountIndividual)
			_, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: other.ID, Kind: ledger.LotPaid, Amount: d("1"), IdempotencyKey: k})
			return err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
	requireDec(t, "90", b.available(t, acc.ID), "one hold of 10, nothing else")
	b.verifyClean(t)
}

func TestFrozenAccountCannotSpendButCanBeGranted(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "10", lotOpts{})
	res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("2"), IdempotencyKey: key()})
	require.NoError(t, err)
	require.NoError(t, b.l.SetStatus(b.ctx, acc.ID, ledger.StatusFrozen, "staff:7", "fraud_review"))
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrAccountFrozen)
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrAccountFrozen)
	b.credit(t, acc.ID, "5", lotOpts{kind: ledger.LotPromo})
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("2")})
	require.NoError(t, err, "a call in flight when frozen is still charged")
	requireDec(t, "13", b.available(t, acc.ID))
	require.NoError(t, b.l.SetStatus(b.ctx, acc.ID, ledger.StatusActive, "staff:7", "review_cleared"))
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("1"), IdempotencyKey: key()})
	require.NoError(t, err)
	evs, _, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{Types: []ledger.EventType{ledger.EventStatus}}, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, "staff:7", evs[1].Actor)
	require.Equal(t, "fraud_review", evs[1].ReasonCode)
}

func TestGraceCredit(t *testing.T) {
	grace := ledger.Options{Grace: ledger.GracePolicy{Enabled: true, Amount: d("5"), Lifetime: 48 * time.Hour}}
	t.Run("NeverPaidGetsNoGrace", func(t *testing.T) {
		b := setup(t, grace)
		acc := b.account(t, ledger.AccountIndividual)
		b.credit(t, acc.ID, "10", lotOpts{kind: ledger.LotPromo})
		_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("10"), IdempotencyKey: key()})
		require.NoError(t, err)
		requireDec(t, "0", b.available(t, acc.ID))
	})
	t.Run("OncePerTopUp", func(t *testing.T) {
		b := setup(t, grace)
		acc := b.account(t, ledger.AccountIndividual)
		b.credit(t, acc.ID, "10", lotOpts{})
		cr, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("10"), IdempotencyKey: key()})
		require.NoError(t, err)
		requireDec(t, "5", cr.Available, "reaching zero grants one grace lot")
		bal, err := b.l.Balance(b.ctx, acc.ID)
		require.NoError(t, err)
		requireDec(t, "5", bal.ByKind[ledger.LotGrace])
		require.True(t, b.clock.Now().Add(48*time.Hour).Equal(bal.Expiring[0].At), "grace lives 48 h")

		cr, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("7"), IdempotencyKey: key()})
		require.NoError(t, err)
		requireDec(t, "5", cr.Charged)
		requireDec(t, "2", cr.Unpaid)
		requireDec(t, "0", cr.Available, "no second grace before the next top-up")

		b.credit(t, acc.ID, "3", lotOpts{})
		cr, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("3"), IdempotencyKey: key()})
		require.NoError(t, err)
		requireDec(t, "5", cr.Available, "after a new top-up, grace again")
		lots, err := b.l.Lots(b.ctx, acc.ID)
		require.NoError(t, err)
		var graceLots int
		for _, l := range lots {
			if l.Kind == ledger.LotGrace {
				graceLots++
				_, err := b.l.Refund(b.ctx, ledger.RefundRequest{LotID: l.ID, Amount: d("1"), IdempotencyKey: key()})
				require.ErrorIs(t, err, ledger.ErrNotRefundable)
			}
		}
		require.Equal(t, 2, graceLots)
		b.verifyClean(t)
	})
	// The settings screen changes the policy while the ledger runs:
	// CurrentGrace is read at each write, CurrentTrialCap at each account
	// creation.
	t.Run("CurrentPolicyIsReadPerOperation", func(t *testing.T) {
		var mu sync.Mutex
		policy, trialCap := ledger.GracePolicy{}, d("0")
		b := setup(t, ledger.Options{
			CurrentGrace:    func() ledger.GracePolicy { mu.Lock(); defer mu.Unlock(); return policy },
			CurrentTrialCap: func() decimal.Decimal { mu.Lock(); defer mu.Unlock(); return trialCap },
		})
		acc := b.account(t, ledger.AccountIndividual)
		require.False(t, acc.InTrial())
		b.credit(t, acc.ID, "10", lotOpts{})
		cr, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("10"), IdempotencyKey: key()})
		require.NoError(t, err)
		requireDec(t, "0", cr.Available, "grace off")

		mu.Lock()
		policy, trialCap = ledger.GracePolicy{Enabled: true, Amount: d("4"), Lifetime: time.Hour}, d("300")
		mu.Unlock()
		b.credit(t, acc.ID, "2", lotOpts{})
		cr, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("2"), IdempotencyKey: key()})
		require.NoError(t, err)
		requireDec(t, "4", cr.Available, "grace turned on without a new ledger")
		next := b.account(t, ledger.AccountIndividual)
		require.True(t, next.InTrial())
		requireDec(t, "300", next.TrialCap.Decimal)
	})
}
