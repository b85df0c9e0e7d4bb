package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/natstest"
	"github.com/seed75218f88/credits/internal/usagestream"
	"github.com/seed75218f88/credits/web/webtest"
)

// runUsageStream runs the app's usage consumer until the test ends, then
// deletes the test's streams.
func runUsageStream(t *testing.T, us *usagestream.Stream) {
	t.Helper()
	require.NotNil(t, us)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = us.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = us.Delete(context.Background())
	})
}

// TestAdminUsageDLQOnAPhoneInChromium: two accepted events for accounts
// that do not exist are dead-lettered; on a 390 px phone, in Chinese and in
// English, finance sees them with their reason, replays one once its
// account exists (it is charged) and discards the other; both are audited.
// Support does not reach the page.
func TestAdminUsageDLQOnAPhoneInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	url, prefix := natstest.URL(t), natstest.Prefix()
	b := setupAdmin(t, webtest.WithConfig(func(c *config.Config) { c.NATS = config.NATS{URL: url, Prefix: prefix} }))
	us := b.app.Services.UsageStream
	runUsageStream(t, us)
	ctx := context.Background()
	key, _, err := b.gw.Keys.Create(ctx, ledger.ModeLive, "dlq "+t.Name())
	require.NoError(t, err)
	late, gone := "dlq-late-"+prefix, "dlq-gone-"+prefix
	at := time.Now().Add(time.Second)
	res, err := us.Publish(ctx, key, gateway.UsageBatch{Events: []gateway.UsageEvent{
		{IdempotencyKey: "k-late", Account: late, Model: "deepseek-chat", InputTokens: 1000, OccurredAt: at},
		{IdempotencyKey: "k-gone", Account: gone, Model: "deepseek-chat", InputTokens: 1000, OccurredAt: at}}})
	require.NoError(t, err)
	require.Equal(t, 2, res.Queued)
	require.Eventually(t, func() bool { n, err := us.DeadLetterCount(ctx); return err == nil && n == 2 }, 20*time.Second, 20*time.Millisecond)
	letters, _, err := us.DeadLetters(ctx, 0, 10)
	require.NoError(t, err)
	seq := map[string]uint64{}
	for _, l := range letters {
		seq[l.Usage.Event.Account] = l.Seq
	}

	support := b.staffClient(t, uniqEmail("dlq-support"), auth.RoleSupport)
	require.Equal(t, http.StatusForbidden, support.Get("/admin/usage-dlq").Status)
	// Finance's back-office home counts them among the work waiting.
	home := b.staffClient(t, uniqEmail("dlq-home"), auth.RoleFinance).Get("/admin")
	require.Equal(t, "2", home.Doc.Find(`[data-testid="home-queue-admin.usage_dlq"] [data-testid="home-queue-count"]`).Text())

	const pw = "staff password 1"
	email := uniqEmail("dlq-finance")
	_, err = b.auth.CreateStaff(ctx, auth.StaffRequest{Email: email, Password: pw, Name: "DLQ finance", Roles: []auth.Role{auth.RoleFinance}})
	require.NoError(t, err)
	bctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	row := func(account, testid string) string {
		return fmt.Sprintf(`[data-testid="usage-dlq-%d"] [data-testid="%s"]`, seq[account], testid)
	}
	require.NoError(t, chromedp.Do(bctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(b.app.URL+"/signin"),
		chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
		chromedp.SendKeys(css(`#f-login`), email),
		chromedp.SendKeys(css(`#f-password`), pw),
		chromedp.Click(css(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="signout"]`)),
		chromedp.Navigate(b.app.URL+"/admin/usage-dlq"),
		chromedp.WaitVisible(css(`[data-testid="usage-dlq-table"]`)),
	))
	for _, lang := range []struct{ code, reason, total string }{{"zh-CN", "账户不存在", "待处理 2 条"}, {"en", "No such account", "2 events waiting"}} {
		if lang.code == "en" {
			require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(b.app.URL+"/lang/en"), chromedp.Navigate(b.app.URL+"/admin/usage-dlq"),
				chromedp.WaitVisible(css(`[data-testid="usage-dlq-table"]`))))
		}
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="usage-dlq-total"]`), lang.total)
		require.Contains(t, webtest.Text(t, bctx, row(late, "usage-dlq-reason")), lang.reason)
		require.Contains(t, webtest.Text(t, bctx, row(gone, "usage-dlq-account")), gone)
		width, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "the dead-letter list scrolls sideways on a phone (%s)", lang.code)
		webtest.Screenshot(t, bctx, "admin-usage-dlq-390-"+lang.code)
	}

	// The account is created afterwards: the replay charges the event.
	_, _, err = b.gw.PutAccount(ctx, key, late, gateway.AccountInput{Verification: &gateway.VerificationInput{Status: "verified", Reference: "r"}})
	require.NoError(t, err)
	_, err = b.gw.Grant(ctx, key, late, gateway.GrantInput{Amount: decimal.NewFromInt(100), Kind: ledger.LotPromo, ReasonCode: "test", IdempotencyKey: "g-" + late})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(css(row(late, "usage-dlq-replay"))),
		chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
	))
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="flash-success"]`), "sent to be charged again")
	require.Eventually(t, func() bool {
		bal, err := b.gw.Balance(ctx, key, late)
		return err == nil && bal.Available.Equal(decimal.NewFromInt(98))
	}, 20*time.Second, 50*time.Millisecond, "the replayed event was not charged")

	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(css(row(gone, "usage-dlq-discard"))),
		chromedp.WaitVisible(css(`[data-testid="usage-dlq-none"]`)),
	))
	require.Contains(t, webtest.Text(t, bctx, `[data-testid="flash-success"]`), "discarded")
	n, err := us.DeadLetterCount(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	var actions []string
	rows, err := b.app.Pool.Query(ctx, `SELECT action FROM admin_audit_log WHERE actor_email = $1 ORDER BY id`, email)
	require.NoError(t, err)
	for rows.Next() {
		var a string
		require.NoError(t, rows.Scan(&a))
		actions = append(actions, a)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"usage_dead_letter_replayed", "usage_dead_letter_discarded"}, actions)
}

// Without NATS_URL the page says there is no queue.
func TestAdminUsageDLQWithoutNATS(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	admin := b.staff(t, "dlq-admin", auth.RoleAdmin)
	p := admin.Get("/admin/usage-dlq")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, 1, p.Doc.Find(`[data-testid="usage-dlq-off"]`).Length())
}
