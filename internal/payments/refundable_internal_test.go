package payments

import (
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

// TestRefundForEveryFen: whatever the price and however much of the lot
// and its bonus is spent, every amount from one fen to the largest refund
// is paid back exactly, and a larger amount takes at least as many credits.
func TestRefundForEveryFen(t *testing.T) {
	dec := decimal.RequireFromString
	for _, c := range []struct {
		name                              string
		amountFen                         int64
		credits, bonus                    string
		remaining, held                   string
		bonusLeft, bonusSpent             string
		refunded                          string
		refundedFen, orderRefunded, taken int64
	}{
		{name: "default price, bonus half spent", amountFen: 10000, credits: "100000", bonus: "20000",
			remaining: "100000", held: "0", bonusLeft: "10000", bonusSpent: "10000", refunded: "0"},
		{name: "odd price, lot partly used, credit held", amountFen: 3333, credits: "111111.111111", bonus: "22222.222222",
			remaining: "70000.000001", held: "1234.5", bonusLeft: "0", bonusSpent: "22222.222222", refunded: "0"},
		{name: "after an earlier refund", amountFen: 9999, credits: "33333", bonus: "6666.6",
			remaining: "20000", held: "0", bonusLeft: "1000", bonusSpent: "3000", refunded: "3000",
			refundedFen: 900, orderRefunded: 850, taken: 50},
	} {
		t.Run(c.name, func(t *testing.T) {
			lot := ledger.Lot{Amount: dec(c.credits), Remaining: dec(c.remaining), Refunded: dec(c.refunded), RefundedFen: c.refundedFen}
			b := refundBasis{
				order: Order{OrderNo: "T1", AmountFen: c.amountFen, State: StatePartiallyRefunded, RefundedFen: c.orderRefunded, BonusDeductedFen: c.taken},
				paid:  ledger.NewLotValue(lot, c.amountFen, dec(c.held)), remaining: lot.Remaining, held: dec(c.held),
				bonusLot: 2, bonus: dec(c.bonus), bonusLeft: dec(c.bonusLeft), bonusSpent: dec(c.bonusSpent),
			}
			top := b.largest()
			require.Positive(t, top.Fen)
			prev := decimal.Zero
			for fen := int64(1); fen <= top.Fen; fen++ {
				q, err := b.forFen(fen)
				require.NoError(t, err, "%d fen", fen)
				require.Equal(t, fen, q.Fen)
				require.Equal(t, q.GrossFen, q.Fen+q.BonusFen)
				require.True(t, q.Credits.GreaterThanOrEqual(prev), "%d fen takes %s credits, less than %s", fen, q.Credits, prev)
				require.True(t, q.Credits.LessThanOrEqual(b.remaining))
				require.True(t, q.BonusRevoked.LessThanOrEqual(b.bonusLeft))
				require.True(t, q.BonusCharged.LessThanOrEqual(b.bonusSpent))
				prev = q.Credits
			}
			_, err := b.forFen(top.Fen + 1)
			require.ErrorIs(t, err, ErrRefundExceedsOrder)
		})
	}
}
