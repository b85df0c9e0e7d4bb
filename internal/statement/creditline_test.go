package statement_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/statement"
)

// TestStatementOfACreditLine: the month's statement of an enterprise that
// spent on its credit line still reconciles with the ledger to the micro-
// credit. (Its balances are the pool's, the unused line included; bills
// are not listed on statements yet: README, "Not built yet".)
func TestStatementOfACreditLine(t *testing.T) {
	b := setup(t)
	acc, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountEnterprise, Name: "月结"})
	require.NoError(t, err)
	b.at("2026-10-02 02:00:00")
	lines := creditline.New(dbtest.Pool(t), b.l, creditline.Options{Now: b.clock.Now})
	require.NoError(t, pgx.BeginFunc(b.ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
		_, err := lines.SetLineTx(b.ctx, tx, creditline.Spec{AccountID: acc.ID, LineFen: 10000, BillingDay: 1, TermsDays: 10}, "staff:1", "t", nil)
		return err
	}))
	b.at("2026-10-05 02:00:00")
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("123.456789"), IdempotencyKey: key(), Model: "m", OccurredAt: b.clock.Now()})
	require.NoError(t, err)
	b.at("2026-11-02 02:00:00")
	m, err := statement.ParseMonth("2026-10")
	require.NoError(t, err)
	st, err := b.svc.Compute(b.ctx, acc.ID, m)
	require.NoError(t, err, "reconciles")
	require.True(t, st.Closing.Total.Equal(d("99876.543211")), "the pool's balance: line 100,000 less 123.456789 used, got %s", st.Closing.Total)
}
