package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
)

func TestReserveCommitChargesActualAndReleasesTheRest(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	paid := b.credit(t, acc.ID, "100", lotOpts{})
	promo := b.credit(t, acc.ID, "30", lotOpts{kind: ledger.LotPromo, expires: 48 * time.Hour})

	res, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("50"), IdempotencyKey: key(), TTL: time.Minute, Model: "qwen"})
	require.NoError(t, err)
	require.Equal(t, []string{holdStr(promo.ID, "30"), holdStr(paid.ID, "20")}, holdStrs(res.Holds), "promo (expiring) is held before paid")
	bal, err := b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "80", bal.Available)
	requireDec(t, "50", bal.Reserved)

	cr, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("45.5")})
	require.NoError(t, err)
	requireDec(t, "45.5", cr.Charged)
	requireDec(t, "4.5", cr.Released)
	requireDec(t, "0", cr.Unpaid)
	requireDec(t, "84.5", cr.Available)

	again, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("45.5")})
	require.NoError(t, err)
	require.True(t, again.Replayed)
	requireDec(t, "45.5", again.Charged)
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: res.ID, Actual: d("10")})
	require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
	_, err = b.l.Release(b.ctx, res.ID)
	require.ErrorIs(t, err, ledger.ErrReservationClosed)
	b.verifyClean(t)
}

func holdStr(lot int64, amount string) string {
	return fmt.Sprintf("%d:%s", lot, d(amount).StringFixed(ledger.Scale))
}

func holdStrs(hs []ledger.Hold) []string {
	var out []string
	for _, h := range hs {
		out = append(out, fmt.Sprintf("%d:%s", h.LotID, h.Amount.StringFixed(ledger.Scale)))
	}
	return out
}
