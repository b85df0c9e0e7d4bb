package ledger_test

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

// TestFenShare: exact half-to-even shares of a lot's price.
func TestFenShare(t *testing.T) {
	for _, c := range []struct {
		paid        int64
		part, whole string
		want        int64
	}{
		{10000, "33333.333333", "100000", 3333},
		{10000, "5", "100000", 0},  // 0.5 fen: to even
		{10000, "15", "100000", 2}, // 1.5 fen: to even
		{10000, "25", "100000", 2}, // 2.5 fen: to even
		{10000, "25.000001", "100000", 3},
		{9999, "33330", "33330", 9999},
		{1, "1", "3", 0},
		{2, "1", "3", 1},
	} {
		require.Equal(t, c.want, ledger.FenShare(c.paid, d(c.part), d(c.whole)), "%d × %s ÷ %s", c.paid, c.part, c.whole)
	}
	requireDec(t, "33330", ledger.CreditsForFen(3333, 10000, d("100000")))
	requireDec(t, "0.333333", ledger.CreditsForFen(1, 3, d("1")))
	requireDec(t, "0.666667", ledger.CreditsForFen(2, 3, d("1")))
}

// TestLotValueAllocatesExactlyWhatWasPaid: however a lot is used, expired
// and refunded, each event is within a fen of its exact share and a lot
// emptied allocates exactly its price.
func TestLotValueAllocatesExactlyWhatWasPaid(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 13))
	for range 500 {
		paid := 1 + rng.Int64N(1_000_000)
		amount := decimal.New(1+rng.Int64N(1_000_000_000_000), -6)
		v := ledger.LotValue{PaidFen: paid, Amount: amount}
		left := amount
		var total int64
		for left.IsPositive() {
			q := ledger.Round(left.Mul(decimal.NewFromFloat(rng.Float64())))
			if !q.IsPositive() || rng.IntN(8) == 0 {
				q = left
			}
			if rng.IntN(5) == 0 && !q.Equal(left) {
				// A refund states its fen: here its exact share, rounded.
				fen := ledger.FenShare(paid, q, amount)
				total += v.Refund(q, fen)
			} else {
				fen := v.Use(q)
				exact := q.Mul(decimal.NewFromInt(paid)).Div(amount)
				require.True(t, decimal.NewFromInt(fen).Sub(exact).Abs().LessThanOrEqual(decimal.NewFromInt(2)), "%d fen for %s of %s at %d", fen, q, amount, paid)
				total += fen
			}
			left = left.Sub(q)
		}
		require.Equal(t, paid, total, "a lot of %s bought for %d fen", amount, paid)
		require.Zero(t, v.Left())
	}
}

// TestRefundRevokesBonus: a refund takes the bonus lot's share in the same
// operation, records its price on the lot and the event, refuses a bonus
// lot that is paid, another pool's or short, and replays.
func TestRefundRevokesBonus(t *testing.T) {
	t.Parallel()
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	paid, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: d("100000"), PaidFen: 10000, IdempotencyKey: key()})
	require.NoError(t, err)
	require.EqualValues(t, 10000, *paid.Lot.PaidFen)
	bonus := b.credit(t, acc.ID, "20000", lotOpts{kind: ledger.LotPromo})
	require.Nil(t, bonus.PaidFen)

	_, err = b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPromo, Amount: d("1"), PaidFen: 1, IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrInvalidArgument, "only a paid lot has a price")

	other := b.account(t, ledger.AccountIndividual)
	foreign := b.credit(t, other.ID, "5", lotOpts{kind: ledger.LotPromo})
	second := b.credit(t, acc.ID, "5", lotOpts{})
	for name, r := range map[string]ledger.RefundRequest{
		"beyond the price":   {LotID: paid.Lot.ID, Amount: d("1"), Fen: 10001},
		"another pool's":     {LotID: paid.Lot.ID, Amount: d("1"), Fen: 1, Bonus: &ledger.BonusRevocation{LotID: foreign.ID, Revoked: d("1")}},
		"a paid bonus":       {LotID: paid.Lot.ID, Amount: d("1"), Fen: 1, Bonus: &ledger.BonusRevocation{LotID: second.ID, Revoked: d("1")}},
		"more than is left":  {LotID: paid.Lot.ID, Amount: d("1"), Fen: 1, Bonus: &ledger.BonusRevocation{LotID: bonus.ID, Revoked: d("20000.000001")}},
		"deduction over fen": {LotID: paid.Lot.ID, Amount: d("1"), Fen: 1, Bonus: &ledger.BonusRevocation{LotID: bonus.ID, ChargedFen: 2}},
	} {
		r.IdempotencyKey = key()
		_, err := b.l.Refund(b.ctx, r)
		require.ErrorIs(t, err, ledger.ErrInvalidArgument, name)
	}

	r := ledger.RefundRequest{LotID: paid.Lot.ID, Amount: d("30000"), Fen: 3000, IdempotencyKey: key(), SourceRef: "payment_refund:R1",
		Bonus: &ledger.BonusRevocation{LotID: bonus.ID, Revoked: d("6000")}}
	res, err := b.l.Refund(b.ctx, r)
	require.NoError(t, err)
	requireDec(t, "6000", res.BonusRevoked)
	again, err := b.l.Refund(b.ctx, r)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, res.OpID, again.OpID)
	r.Bonus.Revoked = d("5000")
	_, err = b.l.Refund(b.ctx, r)
	require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)

	lots, err := b.l.Lots(b.ctx, acc.ID)
	require.NoError(t, err)
	byID := map[int64]ledger.Lot{}
	for _, l := range lots {
		byID[l.ID] = l
	}
	requireDec(t, "70000", byID[paid.Lot.ID].Remaining)
	require.EqualValues(t, 3000, byID[paid.Lot.ID].RefundedFen)
	requireDec(t, "14000", byID[bonus.ID].Remaining)
	requireDec(t, "6000", byID[bonus.ID].Refunded)

	evs, _, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{}, 0, 100)
	require.NoError(t, err)
	var refund, revoke *ledger.Event
	for i := range evs {
		switch {
		case evs[i].Type == ledger.EventRefund:
			refund = &evs[i]
		case evs[i].ReasonCode == ledger.ReasonRefundBonus:
			revoke = &evs[i]
		}
	}
	require.NotNil(t, refund)
	require.NotNil(t, revoke)
	require.Equal(t, ledger.EventExpiry, revoke.Type)
	require.Equal(t, refund.OpID, revoke.OpID)
	requireDec(t, "-6000", revoke.Amount)
	require.JSONEq(t, `{"fen": 3000, "bonus_lot": `+strconv.FormatInt(bonus.ID, 10)+`, "bonus_revoked": 6000.000000, "bonus_charged": 0, "bonus_fen": 0}`, string(refund.Detail))
	requireDec(t, "84005", revoke.BalanceAfter, "100,000 + 20,000 + 5 − 30,000 − 6,000")
	b.verifyClean(t)
}
