package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/settings"
	"github.com/seed75218f88/credits/web/webtest"
)

// setRechargeTiers changes the tier table through the settings screen's
// domain call, as an admin.
func setRechargeTiers(t *testing.T, b *apiBundle, tiers string) {
	t.Helper()
	ctx := context.Background()
	u, err := b.app.Services.Auth.CreateStaff(ctx, auth.StaffRequest{Email: uniqEmail("tiers-admin"), Password: "tiers password 1",
		Name: "Tiers admin", Roles: []auth.Role{auth.RoleAdmin}})
	require.NoError(t, err)
	_, err = b.app.Services.Settings.Change(ctx, settings.GroupAccess, map[string]string{settings.FieldRechargeTiers: tiers,
		settings.FieldEnforcement: "enforce"},
		"test tiers", backoffice.Actor{User: u})
	require.NoError(t, err)
}

var paySeq atomic.Int64

// pay records a payment of fen for the account as a paid lot (what a
// completed top-up order credits).
func pay(t *testing.T, b *apiBundle, accountID, fen int64) {
	t.Helper()
	credits, err := ledger.CreditsForRMB(decimal.New(fen, -2), ledger.DefaultCreditPriceRMB)
	require.NoError(t, err)
	n := paySeq.Add(1)
	_, err = b.ledger.Credit(context.Background(), ledger.CreditRequest{AccountID: accountID, Kind: ledger.LotPaid,
		Amount: credits, PaidFen: fen, EventType: ledger.EventPurchase,
		SourceRef: fmt.Sprintf("order-%d", n), Actor: "test", IdempotencyKey: fmt.Sprintf("pay-%d", n)})
	require.NoError(t, err)
}

// Tiers by cumulative recharge through the API. An account at tier 1
// (RPM 1) is refused its second call with 429 rate_limited; a payment that
// crosses tier 2 lets its next call through at once. An account at tier 2
// (two calls at once) is refused a third open hold with 429
// concurrency_limit; a payment into tier 3 lets it through at once.
// Promotions do not count.
func TestAPITiersByRecharge(t *testing.T) {
	b := setupAPI(t, apiOpts{ownDB: true})
	c := b.live
	setRechargeTiers(t, b, "100:1:10000000:64, 1000:1000:10000000:2, 5000:1000:10000000:64")
	open := func(name string) (string, int64) {
		ext := uniq(t, name)
		put := c.do(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"verification": verified})
		require.Equal(t, http.StatusCreated, put.Status, string(put.Body))
		b.grant(c, ext, "5000000", name) // a grant is not a recharge
		return ext, int64(put.JSON(t)["id"].(float64))
	}
	reserve := func(ext, key string) apiResp {
		return c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "deepseek-chat",
			"max_input_tokens": 100, "max_output_tokens": 100, "idempotency_key": key})
	}

	a, aID := open("rpm")
	acct, err := b.ledger.Account(context.Background(), aID)
	require.NoError(t, err)
	require.Zero(t, acct.PaidFen, "a promotion is not a recharge")
	require.Nil(t, acct.MaxOpen)
	pay(t, b, aID, 10000) // ¥100: tier 1, RPM 1
	// Tier 1 is below the default limit: a lower limit reaches the cached
	// account within the gateway's CacheTTL (only a raise is re-read at
	// once, on a refusal); drop the cached copy as the TTL would.
	b.gw.Forget(aID)
	require.Equal(t, http.StatusCreated, reserve(a, "a1").Status)
	limited := reserve(a, "a2")
	require.Equal(t, http.StatusTooManyRequests, limited.Status, string(limited.Body))
	require.Equal(t, "rate_limited", limited.Code(t))
	pay(t, b, aID, 90000) // ¥1,000 in total: tier 2, at once
	// The bucket refills at the new rate from now on (one request per
	// 60 ms at RPM 1000); it does not jump to full.
	// At tier 1's RPM the next call would wait a minute; at tier 2's it
	// passes within a few refills (the first refusal re-reads the pool).
	var a3 apiResp
	attempt := 0
	require.Eventually(t, func() bool {
		attempt++
		a3 = reserve(a, "a3-"+strconv.Itoa(attempt))
		return a3.Status == http.StatusCreated
	}, 3*time.Second, 60*time.Millisecond, "the payment raised RPM at once")
	require.Equal(t, http.StatusCreated, a3.Status, string(a3.Body))

	bx, bID := open("cap")
	pay(t, b, bID, 100000) // ¥1,000: tier 2, two calls at once
	require.Equal(t, http.StatusCreated, reserve(bx, "b1").Status)
	require.Equal(t, http.StatusCreated, reserve(bx, "b2").Status)
	capped := reserve(bx, "b3")
	require.Equal(t, http.StatusTooManyRequests, capped.Status, string(capped.Body))
	require.Equal(t, "concurrency_limit", capped.Code(t))
	pay(t, b, bID, 400000) // ¥5,000 in total: tier 3, at once
	b4 := reserve(bx, "b4")
	require.Equal(t, http.StatusCreated, b4.Status, "the payment raised the cap at once: %s", b4.Body)
}

// TestTiersInChromium: an admin sets the tier table on the business
// settings screen on a 390 px phone (in Chinese, then changed in
// English); the change is audited; the customer's overview shows its tier,
// its limits and what the next tier needs, in both languages, within the
// screen.
func TestTiersInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAPI(t, apiOpts{ownDB: true})
	c := b.live
	ext := b.account(c, uniq(t, "tier-ent"), map[string]any{"kind": "enterprise", "verification": verified})
	var id int64
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT id FROM ledger_account_view WHERE external_id = $1`, ext).Scan(&id))
	pay(t, b, id, 12000) // ¥120
	const pw = "staff password 1"
	email := uniqEmail("tiers-phone")
	_, err := b.app.Services.Auth.CreateStaff(context.Background(), auth.StaffRequest{Email: email, Password: pw,
		Name: "Tiers admin", Roles: []auth.Role{auth.RoleAdmin}})
	require.NoError(t, err)

	ctx := webtest.Browser(t, 120*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	webtest.SignIn(t, ctx, b.app.URL, email, pw)
	for _, lang := range []struct{ code, tiers, value string }{
		{"zh-CN", "0:3:32000:1, 100:200:128000:50, 500:5000:3000000:500", "0:3:32000:1, 100:200:128000:50, 500:5000:3000000:500"},
		{"en", "0:3:32000:1，100:200:128000:50，1000:5000:3000000:500", "0:3:32000:1, 100:200:128000:50, 1000:5000:3000000:500"},
	} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/admin/settings"),
			chromedp.WaitVisible(css(`[data-testid="settings-access"]`))))
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.confirm = () => true, true)`))
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SetValue(css(`#f-recharge_tiers`), lang.tiers),
			chromedp.SetValue(css(`#f-reason-access`), "tiers "+lang.code),
			chromedp.Click(css(`[data-testid="settings-submit-access"]`)),
			chromedp.WaitVisible(css(`[data-testid="settings-access"] [data-testid="settings-saved"]`)),
		))
		require.Equal(t, lang.value, webtest.Text(t, ctx, `[data-testid="setting-access_tiers"] [data-testid="setting-value"]`))
		webtest.RequireFitsWidth(t, ctx, 390, "the settings screen with tiers (%s)", lang.code)
		webtest.Screenshot(t, ctx, "admin-settings-tiers-390-"+lang.code)
	}
	var audited int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM admin_audit_log
		WHERE action = 'setting_changed' AND detail->>'key' = 'access.tiers'`).Scan(&audited))
	require.Equal(t, 2, audited)

	link := c.do(http.MethodPost, "/v1/accounts/"+ext+"/portal-sessions", nil)
	require.Equal(t, http.StatusCreated, link.Status, string(link.Body))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(link.JSON(t)["url"].(string)),
		chromedp.WaitVisible(css(`[data-testid="signout"]`))))
	for _, lang := range []struct{ code, level, next string }{
		{"zh-CN", "第 2 级", "再充值 ¥880.00（累计 ¥1,000.00）升至第 3 级"},
		{"en", "Tier 2", "Recharge ¥880.00 more (¥1,000.00 in total) for tier 3"},
	} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/lang/"+lang.code), chromedp.Navigate(b.app.URL+"/portal"),
			chromedp.WaitVisible(css(`[data-testid="tier"]`))))
		require.Equal(t, lang.level, webtest.Text(t, ctx, `[data-testid="tier-level"]`))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="tier-limits"]`), "200")
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="tier-next"]`), lang.next)
		webtest.RequireFitsWidth(t, ctx, 390, "the overview with its tier (%s)", lang.code)
		webtest.Screenshot(t, ctx, "overview-tier-390-"+lang.code)
	}
}
