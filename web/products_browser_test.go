package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/products"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestProductsOnAPhoneInChromium: at 390 px, in both languages, the
// products page fits the screen with its buy forms; buying by QR opens the
// existing checkout, paying in the sandbox turns it into "activated" with
// the product's name, the products page lists the entitlement as active,
// and the orders page offers its refund saying until when (Beijing time).
// The redeem page takes a plan code (the plan is opened) and, for a
// second one, says in the user's language why not.
func TestProductsOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupProductShop(t)
	ctx := context.Background()
	_, err := b.app.Services.Plans.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	staff, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: uniqEmail("codes-fin"), Password: "staff password 1", Name: "fin",
		Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	batch, err := b.bo.GenerateBatch(ctx, backoffice.BatchRequest{Campaign: "试用", Count: 2, PlanCode: "basic", PlanDays: 7,
		Actor: backoffice.Actor{User: staff}})
	require.NoError(t, err)

	login := uniqEmail("product-phone")
	b.customer(t, login, true)
	bctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, b.app.URL, login, "correct horse 1")
	for _, lang := range []struct {
		code, product, channel, button, name, active, redeem string
		redeemText, fineTune                                 string
	}{
		{"zh-CN", "deepseek-pack", "wechat", "立即购买", "DeepSeek 模型包", "生效中", batch.Codes[0], "已开通「基础版」", "到账后开通：微调任务 ×3"},
		{"en", "batch-api", "alipay", "Buy now", "Batch inference", "Active", batch.Codes[1], "You already have a plan in force",
			"Activated once the transfer arrives: Fine-tune jobs ×3"},
	} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal/products"),
			chromedp.WaitVisible(css(`[data-testid="product-buy-submit-`+lang.product+`"]`)),
		))
		require.Equal(t, lang.button, webtest.Text(t, bctx, `[data-testid="product-buy-submit-`+lang.product+`"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the products page (%s)", lang.code)
		right, err := chromedp.Run(bctx, chromedp.Evaluate[float64](
			`Math.max(...[...document.querySelectorAll('form.plan-buy button, form.plan-buy label')].map(e => e.getBoundingClientRect().right))`))
		require.NoError(t, err)
		require.LessOrEqual(t, right, 390.0, "a buy control is off-screen (%s)", lang.code)
		webtest.Screenshot(t, bctx, "portal-products-390-"+lang.code)

		require.NoError(t, chromedp.Do(bctx,
			chromedp.Click(css(`[data-testid="product-channel-`+lang.channel+`-`+lang.product+`"]`)),
			chromedp.Click(css(`[data-testid="product-buy-submit-`+lang.product+`"]`)),
			chromedp.WaitVisible(css(`[data-testid="checkout-qr"]`)),
		))
		webtest.RequireFitsWidth(t, bctx, 390, "the product checkout (%s)", lang.code)
		no := webtest.Text(t, bctx, `[data-testid="checkout-order-no"]`)
		_, err = b.sim.Confirm(ctx, lang.channel, no)
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(bctx, chromedp.WaitVisible(css(`[data-testid="checkout-product-active"]`))))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="checkout-product-active"]`), lang.name)
		webtest.Screenshot(t, bctx, "portal-product-paid-390-"+lang.code)

		require.NoError(t, chromedp.Do(bctx, chromedp.Click(css(`[data-testid="checkout-products"]`)),
			chromedp.WaitVisible(css(`[data-testid="entitlement-`+no+`"]`))))
		require.Equal(t, lang.active, webtest.Text(t, bctx, `[data-testid="entitlement-`+no+`"] [data-testid="entitlement-state"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the products page with an entitlement (%s)", lang.code)

		o := b.order(t, no)
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/portal/orders"),
			chromedp.WaitVisible(css(offerSel(no)+` [data-testid="refund-until"]`))))
		require.Equal(t, o.PaidAt.Add(7*24*time.Hour).In(format.Shanghai).Format("2006-01-02 15:04"),
			webtest.Text(t, bctx, offerSel(no)+` [data-testid="refund-until"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the orders page with a product's refund (%s)", lang.code)
		webtest.Screenshot(t, bctx, "portal-product-refund-390-"+lang.code)

		// A bank transfer order names the product it activates.
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/portal/products"),
			chromedp.WaitVisible(css(`[data-testid="product-buy-submit-fine-tune-3"]`)),
			chromedp.Click(css(`[data-testid="product-channel-bank_transfer-fine-tune-3"]`)),
			chromedp.Click(css(`[data-testid="product-buy-submit-fine-tune-3"]`)),
			chromedp.WaitVisible(css(`[data-testid="transfer-product"]`)),
		))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="transfer-product"]`), lang.fineTune)
		webtest.RequireFitsWidth(t, bctx, 390, "a product's bank transfer page (%s)", lang.code)

		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/portal/redeem"),
			chromedp.WaitVisible(css(`[data-testid="redeem-submit"]`)),
			chromedp.SendKeys(css(`#f-code`), lang.redeem),
			chromedp.Click(css(`[data-testid="redeem-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="redeem-plan-done"], [data-testid="error-code"]`)),
		))
		page, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`main`)))
		require.NoError(t, err)
		require.Contains(t, strings.Join(strings.Fields(page), " "), lang.redeemText)
		webtest.RequireFitsWidth(t, bctx, 390, "the redeem page (%s)", lang.code)
		webtest.Screenshot(t, bctx, "portal-redeem-plan-390-"+lang.code)
	}
}

// TestProductEditorInChromium: at 390 px, in both languages, an admin's
// new product with every field wrong comes back with each field's message
// in the admin's language; a right one becomes a draft, publishing it
// (after the confirm) shows version 1; the redemption code page offers the
// catalogue's plans and generates plan codes.
func TestProductEditorInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAdmin(t, webtest.WithOwnDatabase())
	ctx := context.Background()
	_, err := b.app.Services.Plans.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	email := uniqEmail("product-admin")
	_, err = b.auth.CreateStaff(ctx, auth.StaffRequest{Email: email, Password: "staff password 1", Name: "admin",
		Roles: []auth.Role{auth.RoleAdmin, auth.RoleFinance}})
	require.NoError(t, err)
	bctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, bctx, b.app.URL, email, "staff password 1")
	// set types v into the field sel after emptying it.
	set := func(sel, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Evaluate[bool](`(document.querySelector('`+sel+`').value = '', true)`)(ctx, tg)
				return err
			}),
			chromedp.SendKeys(css(sel), v))
	}
	for _, lang := range []struct {
		code, product, priceErr, nameErr, published, plans string
	}{
		{"zh-CN", "vision-pack", "请以元为单位", "名称必填", "已发布新版本", "套餐 basic × 30 天"},
		{"en", "vision-unlock", "yuan", "A name is required", "The new version is published", "Plan basic × 30 days"},
	} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/admin/products"),
			chromedp.WaitVisible(css(`[data-testid="product-create"]`)),
			chromedp.SendKeys(css(`#f-code`), "Bad Code"),
			set(`#f-price`, "abc"),
			set(`#f-refund_days`, "999"),
			chromedp.Click(css(`[data-testid="product-create"]`)),
			chromedp.WaitVisible(css(`[data-testid="error-price"]`)),
		))
		for _, field := range []string{"code", "name_zh", "price", "refund_days"} {
			require.NotEmpty(t, webtest.Text(t, bctx, `[data-testid="error-`+field+`"]`), "every field at once: %s (%s)", field, lang.code)
		}
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="error-price"]`), lang.priceErr)
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="error-name_zh"]`), lang.nameErr)
		webtest.RequireFitsWidth(t, bctx, 390, "the product editor with errors (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-products-errors-390-"+lang.code)

		require.NoError(t, chromedp.Do(bctx,
			set(`#f-code`, lang.product),
			chromedp.SetValue(css(`#f-kind`), "feature"),
			chromedp.SendKeys(css(`#f-name_zh`), "视觉功能"),
			chromedp.SendKeys(css(`#f-name_en`), "Vision"),
			set(`#f-price`, "19.90"),
			set(`#f-refund_days`, "3"),
			chromedp.Click(css(`[data-testid="product-create"]`)),
			chromedp.WaitVisible(css(`[data-testid="product-publish"]`)),
		))
		webtest.RequireFitsWidth(t, bctx, 390, "the product draft (%s)", lang.code)
		require.NoError(t, chromedp.Do(bctx, chromedp.Click(css(`[data-testid="product-publish"]`)),
			chromedp.WaitVisible(css(`[data-testid="product-version-1"]`))))
		page, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`main`)))
		require.NoError(t, err)
		require.Contains(t, page, lang.published)
		p, err := b.app.Services.Products.Latest(ctx, lang.product)
		require.NoError(t, err)
		require.Equal(t, int64(1990), p.PriceFen)
		require.Equal(t, 3, p.RefundDays)
		webtest.Screenshot(t, bctx, "admin-product-published-390-"+lang.code)

		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/admin/codes"),
			chromedp.WaitVisible(css(`[data-testid="batch-submit"]`)),
			chromedp.SendKeys(css(`#f-campaign`), "trial "+lang.code),
			chromedp.SetValue(css(`#f-plan`), "basic"),
			chromedp.SendKeys(css(`#f-plan_days`), "30"),
			chromedp.SendKeys(css(`#f-count`), "2"),
			chromedp.Click(css(`[data-testid="batch-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="codes"]`)),
		))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="batches"]`), lang.plans)
		webtest.RequireFitsWidth(t, bctx, 390, "the codes page with plan codes (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-codes-plan-390-"+lang.code)
	}
	var published int
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT count(*) FROM admin_audit_log WHERE action = $1`,
		string(backoffice.ActionProductPublished)).Scan(&published))
	require.Equal(t, 2, published, "each publication audited")

	// The customer page lists a customer's entitlements.
	_, u := b.register(t, uniqEmail("entitled"), "权益客户")
	orderNo := "T" + strings.ReplaceAll(uniqEmail("e"), "@example.com", "")
	require.NoError(t, db.InTx(ctx, b.app.Pool, func(tx pgx.Tx) error {
		_, err := b.app.Services.Products.GrantTx(ctx, tx, products.GrantRequest{AccountID: u.AccountID, ProductCode: "vision-pack",
			ProductVersion: 1, OrderNo: orderNo, PaidAt: time.Now()})
		return err
	}))
	for _, lang := range []struct{ code, state string }{{"zh-CN", "生效中"}, {"en", "Active"}} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/admin/customers/"+strconv.FormatInt(u.AccountID, 10)),
			chromedp.WaitVisible(css(`[data-testid="customer-entitlement-`+orderNo+`"]`))))
		require.Equal(t, lang.state, webtest.Text(t, bctx, `[data-testid="customer-entitlement-`+orderNo+`"] [data-testid="customer-entitlement-state"]`))
		webtest.RequireFitsWidth(t, bctx, 390, "the customer page with entitlements (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-customer-entitlements-390-"+lang.code)
	}
}
