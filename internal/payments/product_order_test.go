package payments_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/products"
)

var productSeq atomic.Int64

// productBundle is a payments service wired to a real product catalogue,
// as app.Build wires it, with the calls of its hooks counted.
type productBundle struct {
	*testBundle
	cat            *products.Service
	paid, refunded atomic.Int32
	pack, feature  products.Product
}

func setupProducts(t *testing.T) *productBundle {
	t.Helper()
	pb := &productBundle{}
	var cat *products.Service
	opts := payments.Options{
		ProductOffer: func(ctx context.Context, _ int64, code string) (payments.ProductOffer, error) {
			p, err := cat.Latest(ctx, code)
			if err != nil {
				return payments.ProductOffer{}, err
			}
			return payments.ProductOffer{Code: p.Code, Version: p.Version, PriceFen: p.PriceFen, Credits: p.Credits,
				CreditDays: p.CreditDays, RefundDays: p.RefundDays}, nil
		},
		ProductPaid: func(ctx context.Context, tx pgx.Tx, o payments.Order) error {
			pb.paid.Add(1)
			_, err := cat.GrantTx(ctx, tx, products.GrantRequest{AccountID: o.AccountID, ProductCode: o.ProductCode,
				ProductVersion: o.ProductVersion, OrderNo: o.OrderNo, PaidAt: *o.PaidAt, LotID: o.PaidLotID})
			return err
		},
		ProductRefunded: func(ctx context.Context, tx pgx.Tx, o payments.Order, refundNo string) error {
			pb.refunded.Add(1)
			_, err := cat.RevokeTx(ctx, tx, o.OrderNo, "refund:"+refundNo)
			return err
		},
	}
	pb.testBundle = setup(t, setupOpts{opts: opts})
	cat = products.New(pb.pool, products.Options{Now: pb.clock.Now})
	pb.cat = cat
	publish := func(spec products.Spec) products.Product {
		spec.Code = fmt.Sprintf("%s-%d", spec.Code, productSeq.Add(1))
		d, err := cat.CreateDraft(pb.ctx, spec, "ops@example.com")
		require.NoError(t, err)
		p, err := cat.Publish(pb.ctx, d.ID, "ops@example.com")
		require.NoError(t, err)
		return p
	}
	demo := products.DemoSpecs()
	pb.pack, pb.feature = publish(demo[0]), publish(demo[1])
	return pb
}

func (pb *productBundle) pay(t *testing.T, o payments.Order, concurrent int) {
	t.Helper()
	p := payments.ChannelPayment{Channel: o.Channel, OutTradeNo: o.OrderNo, ChannelTradeNo: "42" + o.OrderNo,
		State: payments.ChannelPaid, RawState: "SUCCESS", AmountFen: o.AmountFen, MerchantID: pb.wx.MchID, AppID: pb.wx.AppID}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range concurrent {
		wg.Go(func() {
			<-start
			_, err := pb.svc.ApplyChannelPayment(pb.ctx, p, payments.CauseNotify)
			require.NoError(t, err)
		})
	}
	close(start)
	wg.Wait()
}

// TestModelPackOrderDeliversOnceAndRefundsWithinTheWindow: 64 concurrent
// reports of a model pack's payment credit one paid lot (priced at the
// price paid, expiring after the pack's days) and deliver one entitlement
// in the same transaction; a refund is whole (another amount is refused
// with the amount that applies), keeps back spent credits at the price
// paid, empties the lot and revokes the entitlement once.
func TestModelPackOrderDeliversOnceAndRefundsWithinTheWindow(t *testing.T) {
	t.Parallel()
	b := setupProducts(t)
	acc := b.account(t)
	o, _, err := b.svc.CreateProductOrder(b.ctx, acc, b.pack.Code, payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
	require.NoError(t, err)
	require.Equal(t, payments.PurposeProduct, o.Purpose)
	require.Equal(t, int64(3900), o.AmountFen)
	requireDec(t, "50000", o.Credits)
	require.Equal(t, 7, o.ProductRefundDays)
	resp, err := http.Get(b.simURL + "/pay/wechat/" + o.OrderNo)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(page), "商品 "+b.pack.Code+" ¥39.00", "the payer's app names the product")

	b.pay(t, o, 64)
	o = b.order(t, o)
	require.Equal(t, payments.StatePaid, o.State)
	require.Equal(t, int32(1), b.paid.Load(), "delivered once")
	lots := b.lots(t, acc)
	require.Len(t, lots, 1)
	require.Equal(t, ledger.LotPaid, lots[0].Kind)
	require.Equal(t, int64(3900), *lots[0].PaidFen, "priced at the price paid")
	require.WithinDuration(t, o.PaidAt.AddDate(0, 0, 90), *lots[0].ExpiresAt, time.Second)
	es, err := b.cat.Entitlements(b.ctx, acc)
	require.NoError(t, err)
	require.Len(t, es, 1)
	require.Equal(t, o.PaidLotID, es[0].LotID)
	until, ok := o.RefundUntil()
	require.True(t, ok)
	require.Equal(t, o.PaidAt.Add(7*24*time.Hour), until)

	// Spend 10,000 of the 50,000 credits: a fifth of ¥39 is kept back.
	_, err = b.l.Charge(b.ctx, ledger.ChargeRequest{AccountID: acc, Amount: d("10000"), IdempotencyKey: t.Name(), Model: "test"})
	require.NoError(t, err)
	quotes, err := b.svc.RefundQuotes(b.ctx, acc, []payments.Order{o})
	require.NoError(t, err)
	require.Equal(t, int64(3120), quotes[o.OrderNo].Fen, "¥39 less the spent fifth")
	_, err = b.svc.CheckRefund(b.ctx, acc, o.OrderNo, 1000)
	require.ErrorIs(t, err, payments.ErrInvalidArgument)
	fe, ok := fielderr.As(err)
	require.True(t, ok)
	require.Equal(t, "refund_product_whole", fe.Code("amount"))
	_, err = b.svc.CheckRefund(b.ctx, acc, o.OrderNo, 3120)
	require.NoError(t, err)

	var refunds sync.WaitGroup
	for range 8 {
		refunds.Go(func() {
			_, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 3120,
				Reason: "not needed", Actor: "test", IdempotencyKey: "refund-1"})
			require.NoError(t, err)
		})
	}
	refunds.Wait()
	require.Equal(t, int32(1), b.refunded.Load(), "revoked once")
	o = b.order(t, o)
	require.Equal(t, payments.StatePartiallyRefunded, o.State, "the spent part stays paid")
	require.Equal(t, int64(3120), o.RefundedFen)
	requireDec(t, "0", b.byKind(t, acc, ledger.LotPaid), "the pack's unspent credit is taken back")
	e, err := b.cat.EntitlementOf(b.ctx, o.OrderNo)
	require.NoError(t, err)
	require.NotNil(t, e.RevokedAt)
	_, err = b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o.OrderNo, AmountFen: 100,
		Reason: "again", Actor: "test", IdempotencyKey: "refund-2"})
	require.ErrorIs(t, err, payments.ErrNotRefundable, "a product is refunded once")
	b.verifyClean(t)
}

// TestFeatureRefundWindow: a feature unlock (no lot) is refunded whole
// within its window without a ledger operation; after the window the
// check refuses it saying until when, and no quote is offered.
func TestFeatureRefundWindow(t *testing.T) {
	t.Parallel()
	b := setupProducts(t)
	acc := b.account(t)
	buy := func() payments.Order {
		o, _, err := b.svc.CreateProductOrder(b.ctx, acc, b.feature.Code, payments.ChannelWeChat, payments.PayModeQR, payments.PhonePayer{})
		require.NoError(t, err)
		require.True(t, o.Credits.IsZero())
		b.pay(t, o, 4)
		o = b.order(t, o)
		require.Equal(t, payments.StatePaid, o.State)
		return o
	}
	o1, o2 := buy(), buy()
	require.Nil(t, o1.PaidLotID)
	require.Empty(t, b.lots(t, acc), "a feature credits nothing")
	r, err := b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o1.OrderNo, AmountFen: o1.AmountFen,
		Reason: "changed my mind", Actor: "test", IdempotencyKey: "r1"})
	require.NoError(t, err)
	require.Zero(t, r.LedgerOp)
	require.Equal(t, payments.StateRefunded, b.order(t, o1).State)
	e, err := b.cat.EntitlementOf(b.ctx, o1.OrderNo)
	require.NoError(t, err)
	require.NotNil(t, e.RevokedAt)

	b.clock.Add(7*24*time.Hour + time.Minute)
	_, err = b.svc.CheckRefund(b.ctx, acc, o2.OrderNo, o2.AmountFen)
	require.ErrorIs(t, err, payments.ErrRefundWindowClosed)
	fe, ok := fielderr.As(err)
	require.True(t, ok)
	require.Equal(t, "refund_window_closed", fe.Code(""))
	quotes, err := b.svc.RefundQuotes(b.ctx, acc, []payments.Order{o2})
	require.NoError(t, err)
	require.Zero(t, quotes[o2.OrderNo].Fen)
	_, err = b.svc.Refund(b.ctx, payments.RefundRequest{AccountID: acc, OrderNo: o2.OrderNo, AmountFen: o2.AmountFen,
		Reason: "late", Actor: "test", IdempotencyKey: "r2"})
	require.ErrorIs(t, err, payments.ErrRefundWindowClosed)
	e, err = b.cat.EntitlementOf(b.ctx, o2.OrderNo)
	require.NoError(t, err)
	require.Nil(t, e.RevokedAt, "still entitled")
	b.verifyClean(t)
}
