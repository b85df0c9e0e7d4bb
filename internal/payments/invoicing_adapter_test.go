package payments_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/invoicing"
)

// TestInvoiceRequestsReadTopUpsInTheirTransaction: invoicing over the real
// payment orders, on a pool of 4 connections, takes 64 simultaneous
// requests of ¥20 against one ¥1,000 transfer top-up: exactly 50 are
// requested and 14 refused as exceeding what is invoiceable, to the fen.
// Each request reads the top-ups inside the transaction holding the
// account's lock, so the requests waiting for the lock (holding the other
// connections) never starve the one holding it of a connection.
func TestInvoiceRequestsReadTopUpsInTheirTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{maxConns: 4})
	inv := invoicing.New(b.pool, b.svc.Invoicing(), invoicing.Options{Now: b.clock.Now})
	acc := b.account(t)
	o, err := b.svc.CreateTransferOrder(b.ctx, acc, 100000)
	require.NoError(t, err)
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.svc.CompleteTransferOrder(b.ctx, tx, o.ID, "bank_line:invoice-64", "staff:1")
		return err
	}))
	title := invoicing.TitleInput{Type: invoicing.TitleCompany, Name: "深圳市星河智能科技有限公司", TaxID: "91310115MA1K12345X"}

	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	const n = 64
	var requested, exceeded atomic.Int64
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := inv.RequestInvoice(ctx, acc, invoicing.Request{Kind: invoicing.KindOrdinary, Title: &title, Email: "fin@example.com",
				Items: []invoicing.ItemRequest{{OrderID: o.ID, AmountFen: 2000}}})
			switch {
			case err == nil:
				requested.Add(1)
			case errors.Is(err, invoicing.ErrExceedsInvoiceable):
				exceeded.Add(1)
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "a request failed for another reason than the cap (a starved pool times out)")
	}
	require.Equal(t, int64(50), requested.Load(), "¥1,000 of ¥20 invoices")
	require.Equal(t, int64(14), exceeded.Load())
	avail, err := inv.Invoiceable(b.ctx, acc)
	require.NoError(t, err)
	require.Len(t, avail, 1)
	require.Equal(t, int64(100000), avail[0].InvoicedFen, "the whole top-up, not a fen more")
	require.Zero(t, avail[0].AvailableFen)
}
