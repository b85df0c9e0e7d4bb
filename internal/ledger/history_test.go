package ledger_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

func TestBalanceAtReconstructsThePast(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	t0 := b.clock.Now()
	b.credit(t, acc.ID, "100", lotOpts{})
	b.clock.Add(time.Hour)
	_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("30"), IdempotencyKey: key()})
	require.NoError(t, err)
	b.clock.Add(time.Hour)
	b.credit(t, acc.ID, "5", lotOpts{kind: ledger.LotPromo})
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{t0.Add(-time.Second), "0"},
		{t0, "100"},
		{t0.Add(59 * time.Minute), "100"},
		{t0.Add(time.Hour), "70"},
		{t0.Add(3 * time.Hour), "75"},
	} {
		got, err := b.l.BalanceAt(b.ctx, acc.ID, tt.at)
		require.NoError(t, err)
		requireDec(t, tt.want, got, tt.at)
	}
}

func TestEventsPageNewestFirstAndShowWhichLotsPaid(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "100", lotOpts{})
	b.credit(t, acc.ID, "70", lotOpts{kind: ledger.LotPromo, expires: time.Hour})
	cr, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("100"), IdempotencyKey: key(), Model: "deepseek-v3", SessionID: "s1", RequestID: "r1"})
	require.NoError(t, err)

	op, _, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{OpID: cr.OpID}, 0, 10)
	require.NoError(t, err)
	require.Len(t, op, 2, "one operation, one row per lot")
	require.Equal(t, ledger.LotPaid, *op[0].LotKind)
	requireDec(t, "-30", op[0].Amount)
	require.Equal(t, ledger.LotPromo, *op[1].LotKind)
	requireDec(t, "-70", op[1].Amount)
	require.Equal(t, "deepseek-v3", op[0].Model)
	requireDec(t, "70", op[0].BalanceAfter)

	var all []ledger.Event
	cursor := int64(0)
	for {
		page, next, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{}, cursor, 2)
		require.NoError(t, err)
		all = append(all, page...)
		if next == 0 {
			break
		}
		cursor = next
	}
	require.Len(t, all, 4)
	for i := 1; i < len(all); i++ {
		require.Greater(t, all[i-1].ID, all[i].ID, "newest first")
	}
	bySession, _, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{SessionID: "s1", Types: []ledger.EventType{ledger.EventDeduction}}, 0, 10)
	require.NoError(t, err)
	require.Len(t, bySession, 2)
	none, _, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{From: b.clock.Now().Add(time.Minute)}, 0, 10)
	require.NoError(t, err)
	require.Empty(t, none)
}
