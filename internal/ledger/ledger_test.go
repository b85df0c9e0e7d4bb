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

// TestCommitWithItsOwnKey: a commit under a caller's key replays under that
// key, and a key the account already used for another operation is a
// conflict, so keys stay unique per account.
func TestCommitWithItsOwnKey(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountIndividual)
	b.credit(t, acc.ID, "10", lotOpts{})
	reserveKey := key()
	first, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("2"), IdempotencyKey: reserveKey})
	require.NoError(t, err)
	second, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("2"), IdempotencyKey: key()})
	require.NoError(t, err)

	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: second.ID, Actual: d("1"), IdempotencyKey: reserveKey})
	require.ErrorIs(t, err, ledger.ErrIdempotencyConflict, "the reserve's key is taken")

	commitKey := key()
	cr, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: first.ID, Actual: d("1.5"), IdempotencyKey: commitKey})
	require.NoError(t, err)
	requireDec(t, "1.5", cr.Charged)
	again, err := b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: first.ID, Actual: d("1.5"), IdempotencyKey: commitKey})
	require.NoError(t, err)
	require.True(t, again.Replayed)
	requireDec(t, "1.5", again.Charged)
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: second.ID, Actual: d("1"), IdempotencyKey: commitKey})
	require.ErrorIs(t, err, ledger.ErrIdempotencyConflict, "one key, two reservations")
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: first.ID, Actual: d("1.5")})
	require.ErrorIs(t, err, ledger.ErrReservationClosed, "already committed under another key")
	requireDec(t, "6.5", b.available(t, acc.ID))
	b.verifyClean(t)
}
