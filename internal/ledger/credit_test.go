package ledger_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// setLine sets acc's credit line in its own transaction.
func (b *testBundle) setLine(t *testing.T, acc int64, line string) (ledger.CreditLineResult, error) {
	t.Helper()
	var res ledger.CreditLineResult
	err := pgx.BeginFunc(b.ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
		var err error
		res, err = b.l.SetCreditLineTx(b.ctx, tx, ledger.CreditLineRequest{AccountID: acc, Line: d(line),
			Actor: "finance", SourceRef: "line", IdempotencyKey: key()})
		return err
	})
	return res, err
}

func (b *testBundle) restore(t *testing.T, acc int64, amount, k string) (ledger.RestoreResult, error) {
	t.Helper()
	var res ledger.RestoreResult
	err := pgx.BeginFunc(b.ctx, dbtest.Pool(t), func(tx pgx.Tx) error {
		var err error
		res, err = b.l.RestoreCreditTx(b.ctx, tx, ledger.RestoreRequest{AccountID: acc, Amount: d(amount),
			SourceRef: "bill", Actor: "finance", IdempotencyKey: k})
		return err
	})
	return res, err
}

// TestCreditLine: an account with a credit line spends its own credit
// first, then down to minus its line and no further; its balance shows the
// debt; a restore gives the line back once; the line cannot drop below
// what is used; verify agrees throughout.
func TestCreditLine(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountEnterprise)
	b.credit(t, acc.ID, "30", lotOpts{})
	b.credit(t, acc.ID, "5", lotOpts{kind: ledger.LotPromo, expires: time.Hour})

	res, err := b.setLine(t, acc.ID, "100")
	require.NoError(t, err)
	require.Equal(t, ledger.LotCredit, res.Lot.Kind)
	requireDec(t, "100", res.Delta)

	bal, err := b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "135", bal.Available, "own 35 + line 100")
	requireDec(t, "35", bal.Own())
	require.Equal(t, ledger.LotCredit, bal.Lots[len(bal.Lots)-1].Kind, "the line is spent last")

	// 50 spends promo 5, paid 30, then 15 of the line.
	ch, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("50"), IdempotencyKey: key(), OccurredAt: b.clock.Now()})
	require.NoError(t, err)
	requireDec(t, "50", ch.Charged)
	bal, err = b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "-15", bal.Own(), "the debt is shown")
	requireDec(t, "15", bal.LineUsed())

	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("85.000001"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrInsufficientCredits, "never below minus the line")
	r, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("85"), IdempotencyKey: key()})
	require.NoError(t, err)

	t.Run("LineCannotDropBelowUse", func(t *testing.T) {
		_, err := b.setLine(t, acc.ID, "99")
		require.ErrorIs(t, err, ledger.ErrCreditLineInUse, "15 used and 85 held")
	})
	_, err = b.l.Commit(b.ctx, ledger.CommitRequest{ReservationID: r.ID, Actual: d("20")})
	require.NoError(t, err)
	bal, err = b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "-35", bal.Own())

	t.Run("RestoreOnce", func(t *testing.T) {
		k := key()
		first, err := b.restore(t, acc.ID, "15", k)
		require.NoError(t, err)
		again, err := b.restore(t, acc.ID, "15", k)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, first.OpID, again.OpID)
		bal, err := b.l.Balance(b.ctx, acc.ID)
		require.NoError(t, err)
		requireDec(t, "-20", bal.Own())
		_, err = b.restore(t, acc.ID, "20.000001", key())
		require.ErrorIs(t, err, ledger.ErrCreditRestoreExceeds)
	})

	t.Run("RaiseAndLower", func(t *testing.T) {
		res, err := b.setLine(t, acc.ID, "150")
		require.NoError(t, err)
		requireDec(t, "50", res.Delta)
		res, err = b.setLine(t, acc.ID, "20")
		require.NoError(t, err, "20 used: the line may come down to it")
		requireDec(t, "0", res.Lot.Remaining)
		bal, err := b.l.Balance(b.ctx, acc.ID)
		require.NoError(t, err)
		requireDec(t, "-20", bal.Own(), "lowering the line does not change what is owed")
	})

	t.Run("NotRefundableNotRevocable", func(t *testing.T) {
		_, err := b.l.Refund(b.ctx, ledger.RefundRequest{LotID: res.Lot.ID, Amount: d("1"), IdempotencyKey: key()})
		require.ErrorIs(t, err, ledger.ErrNotRefundable)
		_, err = b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotCredit, Amount: d("1"), IdempotencyKey: key()})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
	})

	t.Run("SubAccountHasNoLine", func(t *testing.T) {
		sub, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: acc.ID, Name: "sub"})
		require.NoError(t, err)
		_, err = b.setLine(t, sub.ID, "10")
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
	})
	b.verifyClean(t)
}

// TestCreditLineConcurrentReserves: 64 concurrent holds on an account with
// no credit of its own never take it below minus its line.
func TestCreditLineConcurrentReserves(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountEnterprise)
	_, err := b.setLine(t, acc.ID, "100")
	require.NoError(t, err)

	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("3"), IdempotencyKey: fmt.Sprintf("%s-%d", key(), i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errorsIs(err, ledger.ErrInsufficientCredits):
				refused++
			default:
				t.Errorf("reserve: %v", err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 33, ok, "33 holds of 3 fit in a line of 100")
	require.Equal(t, 31, refused)
	bal, err := b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "1", bal.Available)
	requireDec(t, "-99", bal.Own())
	b.verifyClean(t)
}

// TestCreditLineConcurrentRestores: 64 concurrent restores with one key
// (one bill's payment noticed 64 times) give the line back once.
func TestCreditLineConcurrentRestores(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountEnterprise)
	_, err := b.setLine(t, acc.ID, "100")
	require.NoError(t, err)
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("60"), IdempotencyKey: key(), OccurredAt: b.clock.Now()})
	require.NoError(t, err)

	k := key()
	var wg sync.WaitGroup
	ops := make(chan int64, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := b.restore(t, acc.ID, "60", k)
			if err != nil {
				t.Errorf("restore: %v", err)
				return
			}
			ops <- r.OpID
		}()
	}
	wg.Wait()
	close(ops)
	seen := map[int64]bool{}
	for op := range ops {
		seen[op] = true
	}
	require.Len(t, seen, 1, "one operation")
	bal, err := b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "0", bal.Own())
	requireDec(t, "100", bal.Available)
	b.verifyClean(t)
}

// TestOwnOfSubAccounts: the sub-accounts of an enterprise with a credit
// line own the pool's owned credit, capped by their allocation — never the
// allocation less the whole line — and spending on the line shows on each
// as the pool's debt; without an allocation a sub-account owns what the
// pool owns.
func TestOwnOfSubAccounts(t *testing.T) {
	b := setup(t, ledger.Options{})
	ent := b.account(t, ledger.AccountEnterprise)
	b.credit(t, ent.ID, "50", lotOpts{})
	_, err := b.setLine(t, ent.ID, "1000")
	require.NoError(t, err)
	thirty, hundred := d("30"), d("100")
	small, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Allocation: &thirty, Name: "small"})
	require.NoError(t, err)
	large, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Allocation: &hundred, Name: "large"})
	require.NoError(t, err)
	open, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Name: "open"})
	require.NoError(t, err)
	own := func(acc int64) string {
		t.Helper()
		bal, err := b.l.Balance(b.ctx, acc)
		require.NoError(t, err)
		return bal.Own().String()
	}
	require.Equal(t, "50", own(ent.ID))
	require.Equal(t, "30", own(small.ID), "capped by its allocation")
	require.Equal(t, "50", own(large.ID), "the pool owns 50 of the 100 it may spend")
	require.Equal(t, "50", own(open.ID))

	// large spends 80: the pool's 50, then 30 of the line.
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: large.ID, Amount: d("80"), IdempotencyKey: key(), OccurredAt: b.clock.Now()})
	require.NoError(t, err)
	require.Equal(t, "-30", own(ent.ID), "the enterprise's debt")
	require.Equal(t, "-30", own(small.ID), "the pool's debt shows on every sub-account")
	require.Equal(t, "-30", own(large.ID))
	require.Equal(t, "-30", own(open.ID))
	bal, err := b.l.Balance(b.ctx, large.ID)
	require.NoError(t, err)
	requireDec(t, "20", bal.Available, "what its allocation still allows on the line")
}

// TestCreditLineClosesAtZero: a line of 0 is refused while any of the line
// is used, closes it once all is given back (the lot stays, empty: no
// line, nothing left, the owned balance is the balance) and can be opened
// again; a pool without a line has none to close.
func TestCreditLineClosesAtZero(t *testing.T) {
	b := setup(t, ledger.Options{})
	acc := b.account(t, ledger.AccountEnterprise)
	_, err := b.setLine(t, acc.ID, "0")
	require.ErrorIs(t, err, ledger.ErrNoCreditLine, "nothing to close")
	_, err = b.setLine(t, acc.ID, "100")
	require.NoError(t, err)
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: d("30"), IdempotencyKey: key(), OccurredAt: b.clock.Now()})
	require.NoError(t, err)
	_, err = b.setLine(t, acc.ID, "0")
	require.ErrorIs(t, err, ledger.ErrCreditLineInUse, "30 of it is used")

	_, err = b.restore(t, acc.ID, "30", key())
	require.NoError(t, err)
	b.credit(t, acc.ID, "7", lotOpts{})
	res, err := b.setLine(t, acc.ID, "0")
	require.NoError(t, err)
	requireDec(t, "-100", res.Delta)
	requireDec(t, "0", res.Lot.Amount)
	bal, err := b.l.Balance(b.ctx, acc.ID)
	require.NoError(t, err)
	requireDec(t, "0", bal.Line)
	requireDec(t, "0", bal.LineLeft)
	requireDec(t, "7", bal.Available)
	requireDec(t, "7", bal.Own())
	_, err = b.l.Reserve(b.ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: d("8"), IdempotencyKey: key()})
	require.ErrorIs(t, err, ledger.ErrInsufficientCredits, "no line to spend below zero")
	b.verifyClean(t)

	res, err = b.setLine(t, acc.ID, "50")
	require.NoError(t, err)
	requireDec(t, "50", res.Lot.Amount, "opened again on the same lot")
	b.verifyClean(t)
}
