package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

// readsBundle is an enterprise with one sub-account and 100 paid credits,
// one of which the sub-account spent.
type readsBundle struct {
	*testBundle
	ent, sub ledger.Account
}

func setupReads(t *testing.T) *readsBundle {
	t.Helper()
	b := setup(t, ledger.Options{})
	ent := b.account(t, ledger.AccountEnterprise)
	sub, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent.ID, Name: "team"})
	require.NoError(t, err)
	b.credit(t, ent.ID, "100", lotOpts{})
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: sub.ID, Amount: d("1"), IdempotencyKey: key(), Model: "m"})
	require.NoError(t, err)
	return &readsBundle{testBundle: b, ent: ent, sub: sub}
}

func TestReads(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)

	t.Run("AccountByIDSeesTheCallersTransaction", func(t *testing.T) {
		t.Parallel()
		b := setupReads(t)
		got, err := ledger.AccountByID(b.ctx, pool, b.sub.ID)
		require.NoError(t, err)
		require.Equal(t, b.sub.ID, got.ID)
		require.Equal(t, b.ent.ID, got.PoolID)
		require.Equal(t, ledger.StatusActive, got.Status)
		err = db.InTx(b.ctx, pool, func(tx pgx.Tx) error {
			require.NoError(t, b.l.SetStatusTx(b.ctx, tx, b.sub.ID, ledger.StatusFrozen, "test", "r"))
			in, err := ledger.AccountByID(b.ctx, tx, b.sub.ID)
			require.NoError(t, err)
			require.Equal(t, ledger.StatusFrozen, in.Status)
			return nil
		})
		require.NoError(t, err)
		_, err = ledger.AccountByID(b.ctx, pool, -1)
		require.ErrorIs(t, err, ledger.ErrNotFound)
	})

	t.Run("PoolBalanceIsTheEnterprises", func(t *testing.T) {
		t.Parallel()
		b := setupReads(t)
		for _, id := range []int64{b.ent.ID, b.sub.ID} {
			bal, err := ledger.PoolBalance(b.ctx, pool, id)
			require.NoError(t, err)
			requireDec(t, "99", bal)
		}
		_, err := ledger.PoolBalance(b.ctx, pool, -1)
		require.ErrorIs(t, err, ledger.ErrNotFound)
	})

	t.Run("FrozenPoolFreezesItsSubAccounts", func(t *testing.T) {
		t.Parallel()
		b := setupReads(t)
		frozen, err := ledger.Frozen(b.ctx, pool, b.sub.ID)
		require.NoError(t, err)
		require.False(t, frozen)
		require.NoError(t, b.l.SetStatus(b.ctx, b.ent.ID, ledger.StatusFrozen, "test", "r"))
		frozen, err = ledger.Frozen(b.ctx, pool, b.sub.ID)
		require.NoError(t, err)
		require.True(t, frozen)
		_, err = ledger.Frozen(b.ctx, pool, -1)
		require.ErrorIs(t, err, ledger.ErrNotFound)
	})

	t.Run("LockPoolTxHoldsLedgerWritesBack", func(t *testing.T) {
		t.Parallel()
		b := setupReads(t)
		locked := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error, 1)
		var id int64
		var bal decimal.Decimal
		go func() {
			done <- db.InTx(b.ctx, pool, func(tx pgx.Tx) error {
				var err error
				id, bal, err = ledger.LockPoolTx(b.ctx, tx, b.sub.ID)
				close(locked)
				<-release
				return err
			})
		}()
		<-locked
		charged := make(chan error, 1)
		go func() {
			_, err := b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: b.ent.ID, Amount: d("1"), IdempotencyKey: key()})
			charged <- err
		}()
		select {
		case err := <-charged:
			t.Fatalf("a charge went through the pool's lock: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
		require.NoError(t, <-done)
		require.Equal(t, b.ent.ID, id, "the sub-account's pool")
		requireDec(t, "99", bal)
		require.NoError(t, <-charged)
		after, err := ledger.PoolBalance(b.ctx, pool, b.ent.ID)
		require.NoError(t, err)
		requireDec(t, "98", after)
		err = db.InTx(b.ctx, pool, func(tx pgx.Tx) error {
			_, _, err := ledger.LockPoolTx(b.ctx, tx, -1)
			return err
		})
		require.ErrorIs(t, err, ledger.ErrNotFound)
	})

	t.Run("HeadAndFeedFollowTheEvents", func(t *testing.T) {
		t.Parallel()
		b := setupReads(t)
		head, err := ledger.Head(b.ctx, pool, b.ent.ID)
		require.NoError(t, err)
		evs, _, err := b.l.Events(b.ctx, b.ent.ID, ledger.EventFilter{}, 0, 10)
		require.NoError(t, err)
		require.Equal(t, evs[0].ID, head, "the newest event")
		none, err := ledger.Head(b.ctx, pool, b.account(t, ledger.AccountIndividual).ID)
		require.NoError(t, err)
		require.Zero(t, none)
		last, err := ledger.LastEventID(b.ctx, pool)
		require.NoError(t, err)
		require.GreaterOrEqual(t, last, head)

		feed, err := ledger.EventFeed(b.ctx, pool, evs[len(evs)-1].ID-1, 1000, time.Hour)
		require.NoError(t, err)
		var mine []ledger.FeedEvent
		for _, e := range feed {
			if e.PoolID == b.ent.ID {
				mine = append(mine, e)
			}
		}
		require.Len(t, mine, len(evs))
		for i, e := range mine {
			want := evs[len(evs)-1-i] // the feed runs oldest first
			require.Equal(t, want.ID, e.ID)
			require.Equal(t, want.Type, e.Type)
			requireDec(t, want.Amount.String(), e.Amount)
			requireDec(t, want.BalanceAfter.String(), e.BalanceAfter)
			require.False(t, e.Settled, "recorded just now")
		}
		settled, err := ledger.EventFeed(b.ctx, pool, mine[0].ID-1, 1, 0)
		require.NoError(t, err)
		require.Len(t, settled, 1)
		require.True(t, settled[0].Settled, "with no settle time every event is settled")
	})

	t.Run("ViewsShowTheLedgersRows", func(t *testing.T) {
		t.Parallel()
		b := setupReads(t)
		var balance, remaining decimal.Decimal
		var events int
		var kind string
		err := pool.QueryRow(b.ctx, `
SELECT p.balance, (SELECT sum(remaining) FROM ledger_lot_view WHERE pool_id = p.id),
       (SELECT count(*) FROM ledger_event_view WHERE pool_id = p.id), s.kind
FROM ledger_account_view p JOIN ledger_account_view s ON s.pool_id = p.id AND s.id = $2
WHERE p.id = $1`, b.ent.ID, b.sub.ID).Scan(&balance, &remaining, &events, &kind)
		require.NoError(t, err)
		requireDec(t, "99", balance)
		requireDec(t, "99", remaining)
		require.Equal(t, 2, events, "the purchase and the deduction")
		require.Equal(t, "sub", kind)
		_, err = pool.Exec(context.Background(), `UPDATE ledger_event_view SET amount = 0 WHERE pool_id = $1`, b.ent.ID)
		require.Error(t, err, "history stays append-only through a view")

		// The application role, as the server connects, reads the views
		// and cannot write through them.
		app := dbtest.AppPool(t)
		var n int
		require.NoError(t, app.QueryRow(b.ctx, `SELECT count(*) FROM ledger_lot_view WHERE pool_id = $1`, b.ent.ID).Scan(&n))
		require.Equal(t, 1, n)
		_, err = app.Exec(b.ctx, `UPDATE ledger_account_view SET name = 'x' WHERE id = $1`, b.sub.ID)
		require.ErrorContains(t, err, "permission denied")
	})
}
