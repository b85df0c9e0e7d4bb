package payments_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments"
)

// TestRefundableNowFen: "当前可退" leaves out what is invoiced and what open
// refund requests already ask for.
func TestRefundableNowFen(t *testing.T) {
	t.Parallel()
	paid := payments.Order{State: payments.StatePaid, AmountFen: 30_000_00}
	part := payments.Order{State: payments.StatePartiallyRefunded, AmountFen: 10_000, RefundedFen: 4_000}
	open := payments.Order{State: payments.StatePending, AmountFen: 10_000}
	for _, tc := range []struct {
		name                       string
		order                      payments.Order
		quote, invoiced, requested int64
		want                       int64
	}{
		{"NothingElse", paid, 30_000_00, 0, 0, 30_000_00},
		{"SpentLimitsIt", paid, 1_000_00, 0, 0, 1_000_00},
		{"RequestedIsTaken", paid, 30_000_00, 0, 5_000_00, 25_000_00},
		{"InvoicedIsTaken", paid, 30_000_00, 20_000_00, 0, 10_000_00},
		{"InvoicedAndRequested", paid, 30_000_00, 20_000_00, 5_000_00, 5_000_00},
		{"InvoicedBeyondSpent", paid, 1_000_00, 29_500_00, 0, 500_00},
		{"AllRequested", paid, 1_000_00, 0, 1_000_00, 0},
		{"NeverNegative", paid, 1_000_00, 30_000_00, 1_000_00, 0},
		{"PartlyRefunded", part, 6_000, 1_000, 0, 5_000},
		{"NotPaid", open, 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, payments.RefundableNowFen(tc.order, tc.quote, tc.invoiced, tc.requested))
		})
	}
}
