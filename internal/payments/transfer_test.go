package payments_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/refcode"
)

// TestTransferOrder: a bank transfer order carries a valid, unique
// reference code and the platform's account; the back office's match
// credits it once.
func TestTransferOrder(t *testing.T) {
	t.Parallel()
	bank := payments.BankAccount{Name: "示例科技有限公司", Bank: "招商银行", Branch: "北京分行", Number: "110912345610201"}
	b := setup(t, setupOpts{opts: payments.Options{BankAccount: bank}})
	acc := b.account(t)

	o, err := b.svc.CreateTransferOrder(b.ctx, acc, 500000)
	require.NoError(t, err)
	require.Equal(t, payments.ChannelBankTransfer, o.Channel)
	require.Equal(t, payments.StatePending, o.State)
	require.True(t, refcode.Valid(o.ReferenceCode), o.ReferenceCode)
	require.Len(t, o.ReferenceCode, refcode.Length)
	require.Equal(t, refcode.Format(o.ReferenceCode), o.ReferenceDisplay())
	require.Contains(t, o.ReferenceDisplay(), "-")
	require.WithinDuration(t, b.clock.Now().Add(7*24*time.Hour), o.ExpiresAt, 5*time.Second)
	requireDec(t, "5000000", o.Credits)
	require.Equal(t, bank, b.svc.BankAccount())

	seen := map[string]bool{o.ReferenceCode: true}
	for range 20 {
		x, err := b.svc.CreateTransferOrder(b.ctx, acc, 3000)
		require.NoError(t, err)
		require.False(t, seen[x.ReferenceCode])
		seen[x.ReferenceCode] = true
		closed, err := b.svc.CloseOrder(b.ctx, acc, x.OrderNo) // the customer cancels: leaves the sync tests alone
		require.NoError(t, err)
		require.Equal(t, payments.StateClosed, closed.State)
	}

	list, err := b.svc.Orders(b.ctx, acc, 5)
	require.NoError(t, err)
	require.Len(t, list, 5)
	require.EqualValues(t, 3000, list[0].AmountFen, "newest first")
	require.Equal(t, payments.StateClosed, list[0].State)

	// As typed in a bank memo: lower case, full-width hyphen.
	found, err := b.svc.OrderByReference(b.ctx, strings.ToLower(o.ReferenceCode[:4])+"－"+strings.ToLower(o.ReferenceCode[4:]))
	require.NoError(t, err)
	require.Equal(t, o.ID, found.ID)
	typo := []byte(o.ReferenceCode)
	typo[0], typo[1] = typo[1], typo[0]
	if typo[0] != typo[1] {
		_, err = b.svc.OrderByReference(b.ctx, string(typo))
		require.ErrorIs(t, err, payments.ErrNotFound)
	}

	complete := func(ref string) (payments.Order, error) {
		var out payments.Order
		err := db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
			var err error
			out, err = b.svc.CompleteTransferOrder(b.ctx, tx, o.ID, ref, "staff:7")
			return err
		})
		return out, err
	}
	paid, err := complete("CMB-2026-11-21-0042")
	require.NoError(t, err)
	require.Equal(t, payments.StatePaid, paid.State)
	requireDec(t, "5000000", b.byKind(t, acc, ledger.LotPaid))
	again, err := complete("CMB-2026-11-21-0042")
	require.NoError(t, err)
	require.Equal(t, payments.StatePaid, again.State)
	_, err = complete("CMB-2026-11-22-0001")
	require.ErrorIs(t, err, payments.ErrAlreadyPaid)
	requireDec(t, "5000000", b.byKind(t, acc, ledger.LotPaid), "credited once")
	require.Equal(t, "pending>paid:bank_statement", b.causes(t, o)[1])

	qr := b.paid(t, acc, 3000, payments.ChannelWeChat)
	err = db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.svc.CompleteTransferOrder(b.ctx, tx, qr.ID, "x", "staff:7")
		return err
	})
	require.ErrorIs(t, err, payments.ErrNotTransferOrder)

	_, err = b.svc.CreateTransferOrder(b.ctx, acc, payments.DefaultTransferMaxFen+1)
	require.ErrorIs(t, err, payments.ErrAmountOutOfRange)
	b.verifyClean(t)
}

// TestTransferOrderExpiry: the sync job closes an expired transfer order; a
// transfer matched afterwards still completes it.
func TestTransferOrderExpiry(t *testing.T) {
	// Not parallel: SyncPending sees every open order of the database.
	b := setup(t, setupOpts{})
	acc := b.account(t)
	o, err := b.svc.CreateTransferOrder(b.ctx, acc, 10000)
	require.NoError(t, err)
	requireDec(t, "20000", o.BonusCredits, "the ¥100 tier's bonus applies to transfers too")

	b.clock.Add(6 * 24 * time.Hour)
	rep, err := b.svc.SyncPending(b.ctx, 10)
	require.NoError(t, err)
	require.Zero(t, rep.Closed)
	b.clock.Add(24 * time.Hour)
	rep, err = b.svc.SyncPending(b.ctx, 10)
	require.NoError(t, err)
	require.Equal(t, payments.SyncReport{Checked: 1, Closed: 1}, rep)
	require.Equal(t, payments.StateClosed, b.order(t, o).State)

	err = db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.svc.CompleteTransferOrder(b.ctx, tx, o.ID, "ICBC-1", "staff:7")
		return err
	})
	require.NoError(t, err)
	require.Equal(t, payments.StatePaid, b.order(t, o).State)
	requireDec(t, "100000", b.byKind(t, acc, ledger.LotPaid))
	requireDec(t, "20000", b.byKind(t, acc, ledger.LotPromo))

	// A transfer order is refunded by finance: the credits go, no channel call.
	r, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 10000, IdempotencyKey: "x"})
	require.NoError(t, err)
	require.Equal(t, payments.RefundManual, r.State)
	require.Equal(t, payments.StateRefunded, r.Order.State)
	b.verifyClean(t)
}
