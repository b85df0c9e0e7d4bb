package ledger_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

func TestSpendOrder(t *testing.T) {
	now := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) *time.Time { x := now.Add(time.Duration(h) * time.Hour); return &x }
	lot := func(id int64, kind ledger.LotKind, exp *time.Time, ageH int) ledger.Lot {
		return ledger.Lot{ID: id, Kind: kind, ExpiresAt: exp, Remaining: decimal.NewFromInt(1), CreatedAt: now.Add(-time.Duration(ageH) * time.Hour)}
	}
	tests := []struct {
		name string
		lots []ledger.Lot
		want []int64
	}{
		{"soonest expiry first", []ledger.Lot{lot(1, ledger.LotPaid, at(48), 1), lot(2, ledger.LotPaid, at(24), 1)}, []int64{2, 1}},
		{"no expiry last", []ledger.Lot{lot(1, ledger.LotPromo, nil, 9), lot(2, ledger.LotPaid, at(500), 1)}, []int64{2, 1}},
		{"equal expiry: granted before paid", []ledger.Lot{lot(1, ledger.LotPaid, at(24), 9), lot(2, ledger.LotPromo, at(24), 1), lot(3, ledger.LotGrace, at(24), 1), lot(4, ledger.LotPlan, at(24), 1)}, []int64{2, 3, 4, 1}},
		{"no expiry: granted before paid", []ledger.Lot{lot(1, ledger.LotPaid, nil, 9), lot(2, ledger.LotPlan, nil, 1)}, []int64{2, 1}},
		{"then oldest first", []ledger.Lot{lot(1, ledger.LotPaid, nil, 1), lot(2, ledger.LotPaid, nil, 5), lot(3, ledger.LotPaid, nil, 3)}, []int64{2, 3, 1}},
		{"then lower id", []ledger.Lot{lot(5, ledger.LotPaid, nil, 1), lot(4, ledger.LotPaid, nil, 1)}, []int64{4, 5}},
		{"expired and empty lots are not spendable", []ledger.Lot{lot(1, ledger.LotPromo, at(0), 1), lot(2, ledger.LotPromo, at(-1), 1), {ID: 3, Kind: ledger.LotPaid, CreatedAt: now}, lot(4, ledger.LotPaid, nil, 1)}, []int64{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			for _, l := range ledger.SpendOrder(tt.lots, now) {
				got = append(got, l.ID)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRoundIsHalfEvenToSixPlaces(t *testing.T) {
	for in, want := range map[string]string{
		"0.0000005": "0", "0.0000015": "0.000002", "0.0000025": "0.000002", "1.2345675": "1.234568",
		"-0.0000025": "-0.000002", "7": "7", "0.1234564999": "0.123456",
	} {
		requireDec(t, want, ledger.Round(d(in)), in)
	}
}

func TestCreditRMBConversion(t *testing.T) {
	c, err := ledger.CreditsForRMB(d("10.00"), ledger.DefaultCreditPriceRMB)
	require.NoError(t, err)
	requireDec(t, "10000", c, "¥10 buys 10,000 credits at ¥0.001")
	c, err = ledger.CreditsForRMB(d("1"), d("0.003"))
	require.NoError(t, err)
	requireDec(t, "333.333333", c)
	requireDec(t, "0.33", ledger.RMBForCredits(d("333.333333"), d("0.001")))
	requireDec(t, "0.12", ledger.RMBForCredits(d("125"), d("0.001")), "half-even to the fen")
	_, err = ledger.CreditsForRMB(d("1"), decimal.Zero)
	require.ErrorIs(t, err, ledger.ErrInvalidAmount)
}
