package ledger_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// TestRevokeTx: revoking a plan lot takes what is left as an expiry event
// with the reason given (the balance falls by it), replays with the same
// key, revokes 0 from an empty lot, and refuses a paid lot.
func TestRevokeTx(t *testing.T) {
	t.Parallel()
	b := setup(t, ledger.Options{})
	pool := dbtest.Pool(t)
	acc := b.account(t, ledger.AccountIndividual)
	plan := b.credit(t, acc.ID, "300", lotOpts{kind: ledger.LotPlan})
	paid := b.credit(t, acc.ID, "50", lotOpts{})
	_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("100"), IdempotencyKey: key(), Model: "m"})
	require.NoError(t, err)

	revoke := func(lot int64, k string) (ledger.RevokeResult, error) {
		var res ledger.RevokeResult
		err := pgx.BeginFunc(b.ctx, pool, func(tx pgx.Tx) error {
			var err error
			res, err = b.l.RevokeTx(b.ctx, tx, ledger.RevokeRequest{LotID: lot, IdempotencyKey: k, Actor: "plans",
				Reason: "plan_refund", SourceRef: "subscription:1"})
			return err
		})
		return res, err
	}
	k := key()
	res, err := revoke(plan.ID, k)
	require.NoError(t, err)
	requireDec(t, "200", res.Revoked, "300 granted, 100 spent")
	require.NotZero(t, res.OpID)
	bal, err := b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "50", bal.Available, "the paid lot stays")

	again, err := revoke(plan.ID, k)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	requireDec(t, "200", again.Revoked)

	empty, err := revoke(plan.ID, key())
	require.NoError(t, err)
	requireDec(t, "0", empty.Revoked, "nothing left: nothing taken")
	require.Zero(t, empty.OpID)

	_, err = revoke(paid.ID, key())
	require.ErrorIs(t, err, ledger.ErrInvalidArgument, "paid credit leaves by a refund")

	evs, _, err := b.l.Events(b.ctx, acc.ID, ledger.EventFilter{}, 0, 10)
	require.NoError(t, err)
	require.Equal(t, ledger.EventExpiry, evs[0].Type)
	require.Equal(t, "plan_refund", evs[0].ReasonCode)
	requireDec(t, "-200", evs[0].Amount)
	b.verifyClean(t)
}
