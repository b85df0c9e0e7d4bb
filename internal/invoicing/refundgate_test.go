package invoicing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/invoicing"
)

// TestRefundGateTxHoldsIssue: the refund gate (CheckRefundTx) read inside a refund's
// transaction takes invoicing's account lock, so an invoice issued meanwhile
// waits for the refund to finish instead of slipping past the gate.
func TestRefundGateHoldsIssue(t *testing.T) {
	t.Parallel()
	b := setup(t, invoicing.Options{})
	acct, tops := b.account(8000)
	title := company()
	inv, err := b.svc.RequestInvoice(b.ctx, acct, invoicing.Request{Kind: invoicing.KindSpecial, Title: &title, Email: "fin@example.com",
		Items: []invoicing.ItemRequest{{OrderID: tops[0].OrderID}}})
	require.NoError(t, err)

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	require.NoError(t, b.svc.CheckRefundTx(b.ctx, tx, acct, tops[0].OrderID, 0), "no issued invoice yet")

	done := make(chan error, 1)
	go func() {
		_, _, err := b.svc.Issue(b.ctx, inv.ID, invoicing.IssueRequest{Number: "25442000000000009201"}, "finance:1")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("issue did not wait for the refund's gate: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, tx.Rollback(b.ctx))
	require.NoError(t, <-done, "issue proceeds once the refund transaction ends")

	tx2, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx2.Rollback(b.ctx) }()
	require.ErrorIs(t, b.svc.CheckRefundTx(b.ctx, tx2, acct, tops[0].OrderID, 0), invoicing.ErrRefundNeedsReversal, "an issued invoice blocks the refund")
}
