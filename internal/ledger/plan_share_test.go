package ledger_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

// TestAnswersSayWhatPlanCreditPaid: a reservation's holds name their lot's
// kind, and a commit or charge says how much of what it took came from plan
// lots — on the fast path (within the hold), the slow path (beyond the hold)
// and a charge — so the gateway can answer "plan credits" against "wallet".
func TestAnswersSayWhatPlanCreditPaid(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "100", lotOpts{})
	plan := b.credit(t, acc.ID, "30", lotOpts{kind: ledger.LotPlan, expires: 24 * time.Hour})

	res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("40"), IdempotencyKey: key(), TTL: time.Minute})
	require.NoError(t, err)
	require.Len(t, res.Holds, 2)
	require.Equal(t, plan.ID, res.Holds[0].LotID, "the plan lot expires first and is held first")
	require.Equal(t, ledger.LotPlan, res.Holds[0].Kind)
	require.Equal(t, ledger.LotPaid, res.Holds[1].Kind)
	requireDec(t, "30", res.PlanHeld())

	cr, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("35")})
	require.NoError(t, err)
	requireDec(t, "35", cr.Charged)
	requireDec(t, "30", cr.PlanCharged, "fast path: the plan hold paid first")

	b.credit(t, acc.ID, "10", lotOpts{kind: ledger.LotPlan, expires: 24 * time.Hour})
	res2, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("5"), IdempotencyKey: key(), TTL: time.Minute})
	require.NoError(t, err)
	cr2, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res2.ID, Actual: d("12")})
	require.NoError(t, err)
	requireDec(t, "12", cr2.Charged)
	requireDec(t, "10", cr2.PlanCharged, "slow path: beyond the hold, the rest of the plan lot then the wallet")

	b.credit(t, acc.ID, "3", lotOpts{kind: ledger.LotPlan, expires: 24 * time.Hour})
	ch, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("4"), IdempotencyKey: key()})
	require.NoError(t, err)
	requireDec(t, "3", ch.PlanCharged)
	b.verifyClean(t)
}
