package ledger_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// trialAccount is a new account of a ledger with the given trial cap, with
// granted and paid credit.
func trialAccount(t *testing.T, b *testBundle, promo, paid string) ledger.Account {
	t.Helper()
	acc := b.account(t, ledger.AccountIndividual)
	require.True(t, acc.InTrial())
	if promo != "" {
		b.credit(t, acc.ID, promo, lotOpts{kind: ledger.LotPromo})
	}
	if paid != "" {
		b.credit(t, acc.ID, paid, lotOpts{})
	}
	return acc
}

// trialUsedAt replays the account's holds and charges in the order the
// ledger applied them (one operation at a time, under the pool's lock) and
// returns the most its trial usage (charged plus held) ever was, and what
// any operation took from a paid lot.
func trialUsedAt(t *testing.T, b *testBundle, accountID int64) (peak, fromPaid decimal.Decimal) {
	t.Helper()
	rows, err := dbtest.Pool(t).Query(b.ctx, `
SELECT sum(-e.amount), coalesce(sum(-e.amount) FILTER (WHERE l.kind = 'paid'), 0)
FROM ledger_events e JOIN ledger_lots l ON l.pool_id = e.pool_id AND l.id = e.lot_id
WHERE e.pool_id = $1 AND e.type IN ('reservation', 'reservation_release', 'deduction', 'reservation_expired_charge')
GROUP BY e.op_id ORDER BY min(e.id)`, accountID)
	require.NoError(t, err)
	defer rows.Close()
	var used decimal.Decimal
	for rows.Next() {
		var delta, paid decimal.Decimal
		require.NoError(t, rows.Scan(&delta, &paid))
		used = used.Add(delta)
		peak = decimal.Max(peak, used)
		fromPaid = fromPaid.Add(paid.Abs())
	}
	require.NoError(t, rows.Err())
	return peak, fromPaid
}

// 64 clients race reserves, usage charges and commits beyond their holds on
// one account in trial. The ledger checks the cap and counts the usage in
// the transaction of each hold or charge, so the account is never holding
// plus charged more than its cap, spends no paid credit, and what a commit
// beyond its hold could not charge under the cap is unpaid usage.
func TestTrialCapHoldsUnderConcurrency(t *testing.T) {
	const workers, rounds = 64, 3
	cap := d("100")
	b := setup(t, ledger.Options{TrialCap: cap})
	acc := trialAccount(t, b, "1000", "1000")

	var (
		mu                      sync.Mutex
		charged, unpaid         decimal.Decimal
		capRefusals, otherFails int
		wg                      sync.WaitGroup
		start                   = make(chan struct{})
	)
	note := func(c, u decimal.Decimal, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			charged, unpaid = charged.Add(c), unpaid.Add(u)
		case errorsIs(err, ledger.ErrTrialCapReached):
			capRefusals++
		default:
			otherFails++
			t.Error(err)
		}
	}
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for r := range rounds {
				k := fmt.Sprintf("trial-%d-%d-%d", acc.ID, i, r)
				if i%4 == 1 { // a usage event
					res, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("7"), IdempotencyKey: k})
					note(res.Charged, res.Unpaid, err)
					continue
				}
				res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("10"), IdempotencyKey: k})
				if err != nil {
					note(decimal.Zero, decimal.Zero, err)
					continue
				}
				switch i % 4 {
				case 0: // beyond its hold
					c, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("60")})
					note(c.Charged, c.Unpaid, err)
				case 2: // within its hold
					c, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("4")})
					note(c.Charged, c.Unpaid, err)
				case 3:
					_, err := b.l.Release(b.ctx, res.ID)
					note(decimal.Zero, decimal.Zero, err)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Zero(t, otherFails)
	require.Positive(t, capRefusals, "the demand was well beyond the cap")
	t.Logf("charged %s, unpaid %s, %d refusals at the cap", charged, unpaid, capRefusals)

	peak, fromPaid := trialUsedAt(t, b, acc.ID)
	require.True(t, peak.LessThanOrEqual(cap), "charged plus held peaked at %s, past the cap of %s", peak, cap)
	requireDec(t, "0", fromPaid, "no paid credit was held or charged")
	got, err := b.l.Account(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, charged.String(), got.TrialUsed, "the trial count is what was charged (every hold is closed)")
	bal, err := b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "1000", bal.ByKind[ledger.LotPaid])
	requireDec(t, d("1000").Sub(charged).String(), bal.ByKind[ledger.LotPromo])
	var recordedUnpaid decimal.Decimal
	require.NoError(t, dbtest.Pool(t).QueryRow(b.ctx, `SELECT coalesce(sum(unpaid), 0) FROM ledger_events WHERE pool_id = $1`, acc.ID).Scan(&recordedUnpaid))
	requireDec(t, unpaid.String(), recordedUnpaid, "unpaid usage recorded as such")

	// The count is exact: what is left under the cap can be charged, and
	// not a millionth more.
	if left := cap.Sub(got.TrialUsed); left.IsPositive() {
		_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: left, IdempotencyKey: key()})
		require.NoError(t, err)
	}
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("0.000001"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrTrialCapReached)
	b.verifyClean(t)
}

// The trial rules one by one: granted credit only, the cap counting open
// holds and charges, commits beyond the hold charging only up to the cap,
// releases and the TTL sweep giving the hold back, and EndTrial lifting it.
func TestTrialRules(t *testing.T) {
	t.Parallel()
	reserve := func(b *testBundle, acc int64, amount string) (ledger.Reservation, error) {
		return b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc, Amount: d(amount), IdempotencyKey: key(), TTL: time.Minute})
	}
	charge := func(b *testBundle, acc int64, amount string) (ledger.ChargeResult, error) {
		return b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d(amount), IdempotencyKey: key()})
	}
	used := func(t *testing.T, b *testBundle, acc int64) decimal.Decimal {
		a, err := b.l.Account(b.ctx, acc)
		require.NoError(t, err)
		return a.TrialUsed
	}

	t.Run("NoCapNoTrial", func(t *testing.T) {
		b := setup(t, ledger.Options{})
		acc := b.account(t, ledger.AccountIndividual)
		require.False(t, acc.InTrial())
		b.credit(t, acc.ID, "500", lotOpts{})
		_, err := reserve(b, acc.ID, "500")
		require.NoError(t, err)
	})

	t.Run("PaidCreditNeedsVerification", func(t *testing.T) {
		b := setup(t, ledger.Options{TrialCap: d("100")})
		acc := trialAccount(t, b, "5", "50")
		_, err := reserve(b, acc.ID, "6")
		require.ErrorIs(t, err, ledger.ErrTrialPaidCredit)
		require.ErrorIs(t, err, ledger.ErrTrial)
		require.Equal(t, "trial_paid_credit", ledger.Code(err))
		_, err = charge(b, acc.ID, "6")
		require.ErrorIs(t, err, ledger.ErrTrialPaidCredit)
		_, err = reserve(b, acc.ID, "56")
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits, "more than everything is short, verified or not")
		r, err := reserve(b, acc.ID, "5")
		require.NoError(t, err)
		require.Len(t, r.Holds, 1, "held from the promo lot only")
		requireDec(t, "5", used(t, b, acc.ID))
		b.verifyClean(t)
	})

	t.Run("GrantedOnlyEvenWhenPaidExpiresFirst", func(t *testing.T) {
		b := setup(t, ledger.Options{TrialCap: d("100")})
		acc := b.account(t, ledger.AccountIndividual)
		b.credit(t, acc.ID, "10", lotOpts{expires: time.Hour}) // paid, soonest expiry: first in spending order
		promo := b.credit(t, acc.ID, "10", lotOpts{kind: ledger.LotPromo})
		r, err := reserve(b, acc.ID, "4")
		require.NoError(t, err)
		require.Equal(t, promo.ID, r.Holds[0].LotID)
		c, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: r.ID, Actual: d("12")})
		require.NoError(t, err)
		requireDec(t, "10", c.Charged, "the promo lot, all of it")
		requireDec(t, "2", c.Unpaid, "the paid lot is not touched")
		_, err = charge(b, acc.ID, "1")
		require.ErrorIs(t, err, ledger.ErrTrialPaidCredit, "only paid credit is left: a usage event is refused, as a reservation would be")
		bal, err := b.l.Balance(b.ctx, acc.ID)
		require.NoError(t, err)
		requireDec(t, "10", bal.ByKind[ledger.LotPaid])
		b.verifyClean(t)
	})

	t.Run("CapCountsHoldsAndCharges", func(t *testing.T) {
		b := setup(t, ledger.Options{TrialCap: d("10")})
		acc := trialAccount(t, b, "100", "")
		_, err := reserve(b, acc.ID, "10.000001")
		var se *ledger.ShortfallError
		require.ErrorAs(t, err, &se)
		require.ErrorIs(t, err, ledger.ErrTrialCapReached)
		requireDec(t, "10", se.Available)
		r, err := reserve(b, acc.ID, "6")
		require.NoError(t, err)
		_, err = charge(b, acc.ID, "4.000001")
		require.ErrorIs(t, err, ledger.ErrTrialCapReached, "the open hold counts")
		_, err = charge(b, acc.ID, "3")
		require.NoError(t, err)
		requireDec(t, "9", used(t, b, acc.ID))

		c, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: r.ID, Actual: d("9")})
		require.NoError(t, err)
		requireDec(t, "7", c.Charged, "the hold of 6 and 1 more: the cap")
		requireDec(t, "2", c.Unpaid)
		requireDec(t, "10", used(t, b, acc.ID))
		_, err = reserve(b, acc.ID, "0.000001")
		require.ErrorIs(t, err, ledger.ErrTrialCapReached)
		b.verifyClean(t)
	})

	t.Run("ReleaseAndSweepGiveTheHoldBack", func(t *testing.T) {
		for _, policy := range []ledger.ExpiredReservationPolicy{ledger.ExpiredRelease, ledger.ExpiredCharge} {
			t.Run(string(policy), func(t *testing.T) {
				b := setup(t, ledger.Options{TrialCap: d("10"), ExpiredReservations: policy})
				acc := trialAccount(t, b, "100", "")
				r, err := reserve(b, acc.ID, "8")
				require.NoError(t, err)
				_, err = b.l.Release(b.ctx, r.ID)
				require.NoError(t, err)
				requireDec(t, "0", used(t, b, acc.ID), "released")
				r, err = reserve(b, acc.ID, "8")
				require.NoError(t, err)
				b.clock.Add(2 * time.Minute)
				_, err = b.l.SweepReservations(b.ctx, 1000)
				require.NoError(t, err)
				late, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: r.ID, Actual: d("12")})
				require.NoError(t, err)
				if policy == ledger.ExpiredRelease {
					requireDec(t, "10", late.Charged, "the hold went back; a late commit charges up to the cap")
					requireDec(t, "2", late.Unpaid)
				} else {
					requireDec(t, "2", late.Charged, "the sweep charged the hold; the excess up to the cap")
					requireDec(t, "2", late.Unpaid)
				}
				requireDec(t, "10", used(t, b, acc.ID))
				b.verifyClean(t)
			})
		}
	})

	t.Run("SubAccountsFollowTheirEnterprise", func(t *testing.T) {
		b := setup(t, ledger.Options{TrialCap: d("10")})
		ent := b.account(t, ledger.AccountEnterprise)
		sub, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Name: "dept"})
		require.NoError(t, err)
		require.True(t, sub.InTrial(), "created while its enterprise is in trial")
		b.credit(t, ent.ID, "100", lotOpts{kind: ledger.LotPromo})
		b.credit(t, ent.ID, "100", lotOpts{})
		_, err = reserve(b, sub.ID, "10")
		require.NoError(t, err)
		_, err = charge(b, sub.ID, "1")
		require.ErrorIs(t, err, ledger.ErrTrialCapReached, "a sub-account has its own count while in trial")
		requireDec(t, "10", used(t, b, sub.ID))

		require.NoError(t, b.l.EndTrial(b.ctx, ent.ID, "test", "verified"))
		got, err := b.l.Account(b.ctx, sub.ID)
		require.NoError(t, err)
		require.False(t, got.InTrial(), "verifying the enterprise verifies its departments")
		_, err = reserve(b, sub.ID, "150")
		require.NoError(t, err, "the department spends the pool's paid credit")

		later, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Name: "dept 2"})
		require.NoError(t, err)
		require.False(t, later.InTrial(), "created under a verified enterprise")
		b.verifyClean(t)
	})

	t.Run("EndTrialLiftsIt", func(t *testing.T) {
		b := setup(t, ledger.Options{TrialCap: d("10")})
		acc := trialAccount(t, b, "5", "100")
		_, err := reserve(b, acc.ID, "10")
		require.ErrorIs(t, err, ledger.ErrTrialPaidCredit)
		require.NoError(t, b.l.EndTrial(b.ctx, acc.ID, "verification", "verified"))
		require.NoError(t, b.l.EndTrial(b.ctx, acc.ID, "verification", "verified"), "again: nothing to do")
		got, err := b.l.Account(b.ctx, acc.ID)
		require.NoError(t, err)
		require.False(t, got.InTrial())
		_, err = reserve(b, acc.ID, "105")
		require.NoError(t, err, "paid credit, past the former cap")
		evs, _, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{Types: []ledger.EventType{ledger.EventStatus}}, 0, 10)
		require.NoError(t, err)
		require.Len(t, evs, 1, "one status event, for the first EndTrial")
		require.JSONEq(t, `{"trial": "ended", "trial_cap": 10, "trial_used": 0}`, string(evs[0].Detail))
		require.Equal(t, "verification", evs[0].Actor)
		b.verifyClean(t)
	})
}
