package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/products"
	"github.com/seed75218f88/credits/web/webtest"
)

// productBundle is a payments bundle with its own database (it publishes
// the demo products), a movable clock and the back office.
type productBundle struct {
	*refundBundle
	clock *testClock
}

func setupProductShop(t *testing.T) *productBundle {
	t.Helper()
	pb := &productBundle{refundBundle: &refundBundle{}, clock: &testClock{}}
	pb.payBundle = setupPayOn(t, []webtest.Option{webtest.WithOwnDatabase(),
		webtest.WithOverrides(func(o *app.Overrides) { o.Now = pb.clock.Now })}, func(_ *payBundle, a *app.App) {
		pb.inv, pb.bo = a.Invoicing, a.Backoffice
	})
	_, err := pb.app.Services.Products.EnsureDemo(context.Background(), "test")
	require.NoError(t, err)
	return pb
}

// buyQR buys product code on /portal/products by QR and pays it in the
// sandbox; it returns the paid order.
func (b *productBundle) buyQR(t *testing.T, c *webtest.Client, code string, ch payments.Channel) payments.Order {
	t.Helper()
	p := c.PostForm("/portal/products/buy", url.Values{"product": {code}, "channel": {string(ch)}, "mode": {"qr"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	no := path.Base(p.URL.Path)
	_, err := b.sim.Confirm(context.Background(), string(ch), no)
	require.NoError(t, err)
	o := b.order(t, no)
	require.Equal(t, payments.StatePaid, o.State)
	return o
}

// TestProductCheckout: only a verified customer buys; a model pack bought
// by QR and reported paid by 16 concurrent notifies credits one paid lot
// and delivers one entitlement, announced by one entitlement.granted
// webhook; the page, the order and the API show it; the order is
// invoiceable; a bank transfer order names the product.
func TestProductCheckout(t *testing.T) {
	t.Parallel()
	b := setupProductShop(t)
	ctx := context.Background()

	t.Run("UnverifiedGoesToVerification", func(t *testing.T) {
		c, _ := b.customer(t, uniqEmail("product-unverified"), false)
		c.FollowRedirects = false
		p := c.PostForm("/portal/products/buy", url.Values{"product": {"batch-api"}, "channel": {"wechat"}, "mode": {"qr"}})
		require.Equal(t, http.StatusSeeOther, p.Status)
		require.Contains(t, p.Header.Get("Location"), "verification")
	})

	t.Run("BankTransferNamesTheProduct", func(t *testing.T) {
		c, acc := b.customer(t, uniqEmail("product-transfer"), true)
		p := c.PostForm("/portal/products/buy", url.Values{"product": {"fine-tune-3"}, "channel": {"bank_transfer"}})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Contains(t, p.TestID("transfer-product"), "微调任务 ×3")
		o := b.order(t, path.Base(p.URL.Path))
		require.Equal(t, acc, o.AccountID)
		require.Equal(t, int64(29900), o.AmountFen)
		require.NotEmpty(t, o.ReferenceCode)
	})

	t.Run("UnknownProduct", func(t *testing.T) {
		c, _ := b.customer(t, uniqEmail("product-unknown"), true)
		p := c.PostForm("/portal/products/buy", url.Values{"product": {"no-such"}, "channel": {"wechat"}, "mode": {"qr"}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Contains(t, p.TestID("product-buy-error"), "暂不可购买")
	})

	c, acc := b.customer(t, uniqEmail("product-buyer"), true)
	ext := "product-ext-" + strings.TrimPrefix(uniqEmail("x"), "x")
	_, err := b.app.Pool.Exec(ctx, `UPDATE ledger_accounts SET external_id = $2 WHERE id = $1`, acc, ext)
	require.NoError(t, err)
	_, _, err = b.app.Services.Webhooks.CreateEndpoint(ctx, acc, "https://hooks.example.com/credits")
	require.NoError(t, err)
	p := c.Get("/portal/products")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, 3, p.Doc.Find(`[data-testid^="product-buy-submit-"]`).Length(), "three products on sale")
	require.Contains(t, p.Doc.Find(`[data-testid="product-deepseek-pack"] [data-testid="product-refund"]`).Text(), "付款后 7 天内可申请退款，已用点数按购买价格扣除")
	require.Contains(t, p.Doc.Find(`[data-testid="product-batch-api"] [data-testid="product-refund"]`).Text(), "付款后 7 天内可申请全额退款")
	require.NotEmpty(t, p.TestID("entitlements-none"))
	credits := strings.Join(strings.Fields(p.Text(`[data-testid="product-deepseek-pack"] [data-testid="product-credits"]`)), " ")
	require.Equal(t, "50,000 点，付款后 90 天内有效", credits, "no space before the comma")

	nc := b.captureNotifies(t)
	p = c.PostForm("/portal/products/buy", url.Values{"product": {"deepseek-pack"}, "channel": {"wechat"}, "mode": {"qr"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	no := path.Base(p.URL.Path)
	o := b.order(t, no)
	require.Equal(t, payments.PurposeProduct, o.Purpose)
	require.Equal(t, "deepseek-pack", o.ProductCode)
	require.Equal(t, int64(3900), o.AmountFen)
	require.NotEmpty(t, o.QRCode, "the existing QR checkout")
	_, err = b.sim.Confirm(ctx, string(payments.ChannelWeChat), no)
	require.NoError(t, err)
	n := nc.get(t, payments.NotifyPathWeChat)
	statuses, _ := b.concurrently(t, 16, payments.NotifyPathWeChat, n)
	for i, s := range statuses {
		require.Equal(t, http.StatusNoContent, s, "copy %d is acknowledged", i)
	}
	o = b.order(t, no)
	require.Equal(t, payments.StatePaid, o.State)
	requireCredits(t, "50000", b.balance(t, acc).ByKind[ledger.LotPaid], "one model pack lot")
	es, err := b.app.Services.Products.Entitlements(ctx, acc)
	require.NoError(t, err)
	require.Len(t, es, 1, "one entitlement")
	require.Equal(t, o.PaidAt.UTC(), es[0].Since)
	var events []string
	rows, err := b.app.Pool.Query(ctx, `SELECT args->>'event_id' FROM river_job WHERE kind = 'webhook_deliver' AND args->>'event_type' = $1`,
		products.WebhookGranted)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		events = append(events, id)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"evt_entitlement_granted_" + no}, events, "announced once")

	p = c.Get("/portal/orders/" + no)
	require.Contains(t, p.TestID("checkout-product-active"), "DeepSeek 模型包")
	require.Equal(t, "50,000", p.TestID("checkout-credits"))
	p = c.Get("/portal/products")
	require.Equal(t, "生效中", strings.TrimSpace(p.Doc.Find(`[data-testid="entitlement-`+no+`"] [data-testid="entitlement-state"]`).Text()))
	p = c.Get("/portal/orders")
	require.Contains(t, p.Doc.Find(`[data-order="`+no+`"] [data-testid="order-product"]`).Text(), "DeepSeek 模型包")
	p = c.Get("/portal/invoices")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "¥39.00", p.Doc.Find(`[data-testid="invoiceable-row"][data-order="`+no+`"] [data-testid="available"]`).Text(),
		"invoiceable like any order")

	// The API reports it to a live service key (validated against the
	// OpenAPI document); a test-mode key does not see the live account.
	_, live, err := b.app.Services.Gateway.Keys.Create(ctx, ledger.ModeLive, "products live")
	require.NoError(t, err)
	_, sandbox, err := b.app.Services.Gateway.Keys.Create(ctx, ledger.ModeTest, "products test")
	require.NoError(t, err)
	r := newAPIClient(t, b.app.URL, live).do(http.MethodGet, "/v1/accounts/"+ext+"/entitlements", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var body struct {
		Account      string `json:"account"`
		Entitlements []struct {
			Product string     `json:"product"`
			Kind    string     `json:"kind"`
			OrderNo string     `json:"order_no"`
			Until   *time.Time `json:"until"`
			Active  bool       `json:"active"`
		} `json:"entitlements"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &body))
	require.Equal(t, ext, body.Account)
	require.Len(t, body.Entitlements, 1)
	require.Equal(t, "deepseek-pack", body.Entitlements[0].Product)
	require.Equal(t, "model_pack", body.Entitlements[0].Kind)
	require.Equal(t, no, body.Entitlements[0].OrderNo)
	require.True(t, body.Entitlements[0].Active)
	require.WithinDuration(t, o.PaidAt.AddDate(0, 0, 90), *body.Entitlements[0].Until, time.Second)
	r = newAPIClient(t, b.app.URL, sandbox).do(http.MethodGet, "/v1/accounts/"+ext+"/entitlements", nil)
	require.Equal(t, http.StatusNotFound, r.Status, "another mode's account is not found")
	b.verifyLedger(t)
}

// TestProductRefundWindow: the orders page offers a product's whole refund
// and says until when (Asia/Shanghai); finance's approval revokes the
// entitlement and takes back the pack's unspent credit, spent credit kept
// at the price paid; after the window the form is gone and a request is
// refused saying when it closed.
func TestProductRefundWindow(t *testing.T) {
	t.Parallel()
	b := setupProductShop(t)
	ctx := context.Background()
	c, acc := b.customer(t, uniqEmail("product-refund"), true)
	_, _, err := b.app.Services.Webhooks.CreateEndpoint(ctx, acc, "https://hooks.example.com/credits")
	require.NoError(t, err)
	pack := b.buyQR(t, c, "deepseek-pack", payments.ChannelWeChat)
	feature := b.buyQR(t, c, "batch-api", payments.ChannelAlipay)
	b.spend(t, acc, "10000") // a fifth of the pack

	p := c.Get("/portal/orders")
	offer := p.Doc.Find(offerSel(pack.OrderNo))
	require.Equal(t, 1, offer.Length())
	until := pack.PaidAt.Add(7 * 24 * time.Hour)
	require.Equal(t, until.In(format.Shanghai).Format("2006-01-02 15:04"), strings.TrimSpace(offer.Find(`[data-testid="refund-until"]`).Text()))
	require.Equal(t, "¥31.20", strings.TrimSpace(offer.Find(`[data-testid="refund-max"]`).Text()), "¥39 less the spent fifth")
	require.Equal(t, "31.20", offer.Find(`[data-testid="refund-amount"]`).AttrOr("value", ""), "refunded whole")
	require.NotEmpty(t, offer.Find(`[data-testid="refund-product-rule"]`).Text())

	p = c.PostForm("/portal/orders/"+pack.OrderNo+"/refund", refundForm("10.00", "不需要了"))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.Doc.Find(offerSel(pack.OrderNo)+` [data-testid="refund-error-amount"]`).Text(), "商品需整单退款，本单可退 ¥31.20")
	p = c.PostForm("/portal/orders/"+pack.OrderNo+"/refund", refundForm("31.20", "不需要了"))
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	reqs, err := b.bo.RefundRequests(ctx, backoffice.RefundFilter{AccountID: acc})
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	fin := b.finance(t)
	q := fin.Get("/admin/refunds")
	article := q.Doc.Find(`[data-testid="refund-` + itoa(reqs[0].ID) + `"]`)
	q = fin.PostForm(article.Find(`form`).First().AttrOr("action", ""), nil)
	require.Equal(t, http.StatusOK, q.Status, q.Body)
	e, err := b.app.Services.Products.EntitlementOf(ctx, pack.OrderNo)
	require.NoError(t, err)
	require.NotNil(t, e.RevokedAt, "the refund revoked the entitlement")
	var revoked int
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'webhook_deliver' AND args->>'event_id' = $1`,
		"evt_entitlement_revoked_"+pack.OrderNo).Scan(&revoked))
	require.Equal(t, 1, revoked, "entitlement.revoked announced once")
	requireCredits(t, "0", b.balance(t, acc).ByKind[ledger.LotPaid], "the pack's unspent credit went back with the money")
	require.Equal(t, int64(3120), b.order(t, pack.OrderNo).RefundedFen)
	p = c.Get("/portal/products")
	require.Equal(t, "已退款撤销", strings.TrimSpace(p.Doc.Find(`[data-testid="entitlement-`+pack.OrderNo+`"] [data-testid="entitlement-state"]`).Text()))

	// Eight days later the feature's window has closed.
	b.clock.Advance(8 * 24 * time.Hour)
	p = c.Get("/portal/orders")
	offer = p.Doc.Find(offerSel(feature.OrderNo))
	require.NotEmpty(t, offer.Find(`[data-testid="refund-window-closed"]`).Text())
	require.Zero(t, offer.Find(`form[data-testid="refund-form"]`).Length(), "no form after the window")
	p = c.PostForm("/portal/orders/"+feature.OrderNo+"/refund", refundForm("99.00", "太晚了"))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	closed := feature.PaidAt.Add(7 * 24 * time.Hour).In(format.Shanghai).Format("2006-01-02 15:04")
	require.Contains(t, p.Doc.Find(`[data-testid="refund-error-form"]`).Text(), "该商品的退款期限已于 "+closed+"（北京时间）截止")
	e, err = b.app.Services.Products.EntitlementOf(ctx, feature.OrderNo)
	require.NoError(t, err)
	require.Nil(t, e.RevokedAt)
	b.verifyLedger(t)
}
