package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/pricing"
)

// withRateCard makes sure a rate card is in force (the keys' model list).
func (b *portalBundle) withRateCard(t *testing.T) {
	t.Helper()
	_, err := b.app.Services.Pricing.EnsureDefault(context.Background(), "test", pricing.DefaultCreditPriceRMB)
	require.NoError(t, err)
}

// A key's form names every field in error at once, in Chinese and in
// English, keeping what was typed; a good one is created with its monthly
// budget (a hard stop over the key's labels, audited), its secret shown in
// that answer only (also as the htmx partial), and listed by prefix.
func TestAPIKeyFormErrorsAndCreate(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	b.withRateCard(t)
	ctx := context.Background()
	c, u := b.register(t, uniqEmail("apikey-form"), "")
	p := c.Get("/portal/keys")
	require.Equal(t, http.StatusOK, p.Status)
	require.NotEmpty(t, p.TestID("apikeys-empty"))
	require.Equal(t, "API 密钥", p.TestID("nav-portal.keys"), "in the portal's menu")
	require.Positive(t, p.Doc.Find(`[data-testid="apikey-model"][value="deepseek-chat"]`).Length(), "the rate card's models to pick")

	bad := url.Values{"name": {""}, "project": {strings.Repeat("p", 65)}, "models": {"deepseek-chat", "gpt-9"},
		"expires_on": {"2020-01-01"}, "budget": {"很多"}, "budget_unit": {"usd"}}
	p = c.PostForm("/portal/keys", bad)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "此项为必填项。", p.TestID("error-name"))
	require.Contains(t, p.TestID("error-project"), "64")
	require.Equal(t, "gpt-9 不是价目表上的模型。", p.TestID("error-models"))
	require.Equal(t, "请选择今天或以后的日期。", p.TestID("error-expires_on"))
	require.Equal(t, "请输入大于 0 的金额，最多 6 位小数。", p.TestID("error-budget"))
	require.Equal(t, "请选择点数或元。", p.TestID("error-budget_unit"))
	require.Equal(t, "很多", p.Doc.Find(`[data-testid="apikey-budget-input"]`).AttrOr("value", ""), "what was typed is kept")
	_, ticked := p.Doc.Find(`[data-testid="apikey-model"][value="deepseek-chat"]`).Attr("checked")
	require.True(t, ticked)

	c.Get("/lang/en")
	p = c.PostForm("/portal/keys", url.Values{"name": {"x"}, "expires_on": {"31/12/2030"}, "budget": {"1.234"}, "budget_unit": {"yuan"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "Enter a date such as 2027-01-31.", p.TestID("error-expires_on"))
	require.Equal(t, "Enter an amount above 0 with at most 2 decimals.", p.TestID("error-budget"))
	require.Empty(t, p.TestID("error-name"))
	c.Get("/lang/zh-CN")

	through := time.Now().In(ledger.Shanghai).AddDate(0, 1, 0).Format("2006-01-02")
	good := url.Values{"name": {"search-bot"}, "project": {"search"}, "models": {"deepseek-chat"}, "expires_on": {through},
		"budget": {"１００"}, "budget_unit": {"credits"}}
	p = c.PostForm("/portal/keys", good)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "no-store", p.Header.Get("Cache-Control"))
	secret := p.TestID("apikey-secret")
	require.Regexp(t, `^sk-[0-9A-Za-z]{48}$`, secret)
	row := p.Doc.Find(`[data-testid="apikey-row"]`)
	require.Equal(t, 1, row.Length())
	require.Equal(t, secret[:12]+"…", row.Find(`[data-testid="apikey-prefix"]`).Text())
	require.Equal(t, "search", strings.TrimSpace(row.Find(`[data-testid="apikey-project"]`).Text()))
	require.Equal(t, "deepseek-chat", strings.TrimSpace(row.Find(`[data-testid="apikey-models"]`).Text()))
	require.Equal(t, through, strings.TrimSpace(row.Find(`[data-testid="apikey-expires"]`).Text()))
	require.Equal(t, "从未使用", strings.TrimSpace(row.Find(`[data-testid="apikey-last-used"]`).Text()))
	require.Equal(t, "可用", strings.TrimSpace(row.Find(`[data-testid="apikey-state"]`).Text()))
	require.Contains(t, row.Find(`[data-testid="apikey-budget"]`).Text(), "100")

	bs, err := b.ledger.Budgets(ctx, u.AccountID)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	require.Equal(t, "search", bs[0].Project)
	require.Equal(t, "search-bot", bs[0].Key, "the budget over the key's label")
	require.Equal(t, ledger.BudgetMonth, bs[0].Period)
	require.True(t, bs[0].HardStop)
	require.True(t, decimal.NewFromInt(100).Equal(bs[0].Cap))
	for _, action := range []string{"relay_key_created", "budget_set"} {
		var n int
		require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT count(*) FROM admin_audit_log WHERE action = $1 AND account_id = $2
			AND actor_kind = 'customer' AND detail::text NOT LIKE '%'||$3||'%'`, action, u.AccountID, secret).Scan(&n))
		require.Equal(t, 1, n, action)
	}

	// The secret is never shown again.
	p = c.Get("/portal/keys")
	require.NotContains(t, p.Body, secret)
	require.Empty(t, p.TestID("apikey-created"))
	require.Equal(t, 1, p.Doc.Find(`[data-testid="apikey-row"]`).Length())

	// htmx gets the keys area only, with the new secret.
	p = c.HTMX(http.MethodPost, "/portal/keys", url.Values{"name": {"batch"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotContains(t, p.Body, "<html")
	require.Regexp(t, `^sk-`, p.TestID("apikey-secret"))
	require.Equal(t, "全部模型", strings.TrimSpace(p.Doc.Find(`[data-testid="apikey-row"][data-state="active"] [data-testid="apikey-models"]`).First().Text()))
	p = c.HTMX(http.MethodPost, "/portal/keys", url.Values{"name": {""}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotContains(t, p.Body, "<html")
	require.Equal(t, "此项为必填项。", p.TestID("error-name"))
}

// A customer sees and revokes only their own keys; revoking asks first,
// then the key is listed as revoked (audited) and cannot be revoked twice.
// An enterprise owner makes keys for its sub-accounts, not for another
// customer's account.
func TestAPIKeysBelongToTheirCustomer(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	b.withRateCard(t)
	ctx := context.Background()
	alice, au := b.register(t, uniqEmail("apikey-alice"), "")
	bob, bu := b.register(t, uniqEmail("apikey-bob"), "Bob Corp")
	ent := b.enterprise(t, bu.ID, "Bob Corp")
	sub, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent, Name: "研发部"})
	require.NoError(t, err)

	alice.Get("/portal/keys")
	p := alice.PostForm("/portal/keys", url.Values{"name": {"alice-key"}, "account": {strconv.FormatInt(ent, 10)}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	id := p.Doc.Find(`[data-testid="apikey-row"]`).AttrOr("data-key", "")
	require.NotEmpty(t, id)
	var owner int64
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT account_id FROM relay_keys WHERE id = $1`, id).Scan(&owner))
	require.Equal(t, au.AccountID, owner, "an individual's key is its own, whatever account the form names")

	// Bob neither sees nor revokes Alice's key.
	p = bob.Get("/portal/keys?revoke=" + id)
	require.Equal(t, http.StatusOK, p.Status)
	require.NotContains(t, p.Body, "alice-key")
	require.Empty(t, p.TestID("apikey-revoke-box"))
	p = bob.PostForm("/portal/keys/"+id+"/revoke", nil)
	require.Equal(t, http.StatusNotFound, p.Status)

	// Bob's enterprise makes a key for its sub-account, not for Alice's account.
	p = bob.PostForm("/portal/keys", url.Values{"name": {"ops"}, "account": {strconv.FormatInt(au.AccountID, 10)}, "budget": {"x"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "请选择您自己的账户。", p.TestID("error-account"))
	require.NotEmpty(t, p.TestID("error-budget"), "with the other fields' errors")
	p = bob.PostForm("/portal/keys", url.Values{"name": {"ops"}, "account": {strconv.FormatInt(sub.ID, 10)}, "budget": {"50"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.TestID("apikey-account"), "研发部")
	bs, err := b.ledger.Budgets(ctx, ent)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	require.Equal(t, sub.ID, bs[0].AccountID)
	require.Equal(t, "ops", bs[0].Key)

	// Alice revokes hers, after confirming.
	p = alice.Get("/portal/keys?revoke=" + id)
	require.NotEmpty(t, p.TestID("apikey-revoke-box"))
	action := p.Doc.Find(`[data-testid="apikey-revoke-box"] form`).AttrOr("action", "")
	require.Equal(t, "/portal/keys/"+id+"/revoke", action)
	p = alice.PostForm(action, nil)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "/portal/keys", p.URL.Path)
	require.Contains(t, p.TestID("flash-success"), "密钥已吊销。")
	require.Equal(t, "revoked", p.Doc.Find(`[data-testid="apikey-row"]`).AttrOr("data-state", ""))
	require.Empty(t, p.TestID("apikey-revoke"), "no revoke button on a revoked key")
	var n int
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT count(*) FROM admin_audit_log WHERE action = 'relay_key_revoked' AND account_id = $1`,
		au.AccountID).Scan(&n))
	require.Equal(t, 1, n)
	p = alice.PostForm(action, nil)
	require.Equal(t, http.StatusConflict, p.Status)
}

// Only admins reach the upstreams: support and finance staff are refused,
// customers do not see the back office at all.
func TestUpstreamsAdminOnly(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	for _, role := range []auth.Role{auth.RoleSupport, auth.RoleFinance} {
		s := b.staffClient(t, uniqEmail("upstream-"+string(role)), role)
		require.Equal(t, http.StatusForbidden, s.Get("/admin/upstreams").Status, role)
		require.Equal(t, http.StatusForbidden, s.PostForm("/admin/upstreams", url.Values{"name": {"x"}}).Status, role)
		require.Empty(t, s.Get("/admin").TestID("admin-menu-admin.upstreams"), "no menu entry for %s", role)
	}
	c, _ := b.register(t, uniqEmail("upstream-customer"), "")
	require.Equal(t, http.StatusNotFound, c.Get("/admin/upstreams").Status)
	admin := b.staffClient(t, uniqEmail("upstream-admin"), auth.RoleAdmin)
	p := admin.Get("/admin")
	require.Equal(t, "上游", p.TestID("admin-menu-admin.upstreams"))
}

// An admin adds an upstream: every field in error at once in both
// languages; then it is listed without its secret, and an edit that leaves
// the secret empty keeps the stored one. Both are audited, never with the
// secret.
func TestUpstreamFormsAndSecret(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	ctx := context.Background()
	admin := b.staffClient(t, uniqEmail("upstream-admin"), auth.RoleAdmin)
	admin.FollowRedirects = true
	admin.Get("/admin/upstreams")
	bad := url.Values{"name": {""}, "base_url": {"ftp://x"}, "secret": {""}, "models": {"a b"}, "weight": {"0"}, "priority": {"x"}, "timeout_ms": {"5"}}
	p := admin.PostForm("/admin/upstreams", bad)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "此项为必填项。", p.TestID("error-name"))
	require.Contains(t, p.TestID("error-base_url"), "https://")
	require.Equal(t, "请输入上游的 API 密钥。", p.TestID("error-secret"))
	require.Contains(t, p.TestID("error-models"), "“a b”")
	require.Equal(t, "请输入 1 到 1000 之间的整数。", p.TestID("error-weight"))
	require.Equal(t, "请输入 0 到 100 之间的整数。", p.TestID("error-priority"))
	require.Equal(t, "请输入 100 到 600000 之间的整数。", p.TestID("error-timeout_ms"))
	require.Equal(t, "a b", p.TestID("upstream-models-input"), "what was typed is kept")
	admin.Get("/lang/en")
	p = admin.PostForm("/admin/upstreams", bad)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "Enter the upstream's API key.", p.TestID("error-secret"))
	require.Equal(t, "Enter a whole number from 1 to 1000.", p.TestID("error-weight"))
	admin.Get("/lang/zh-CN")

	name := fmt.Sprintf("ds-%d", time.Now().UnixNano())
	const secret = "sk-upstream-secret-never-shown"
	p = admin.PostForm("/admin/upstreams", url.Values{"name": {name}, "base_url": {"https://api.deepseek.com/v1/"}, "secret": {secret},
		"models": {"deepseek-chat=deepseek-v3\ndeepseek-reasoner"}, "weight": {"3"}, "priority": {"1"}, "timeout_ms": {"30000"}, "enabled": {"yes"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.TestID("flash-success"), "上游已保存。")
	require.NotContains(t, p.Body, secret)
	row := p.Doc.Find(`[data-testid="upstream-row"][data-name="` + name + `"]`)
	require.Equal(t, 1, row.Length())
	require.Equal(t, "https://api.deepseek.com/v1", row.Find(`[data-testid="upstream-url"]`).Text())
	require.Contains(t, row.Find(`[data-testid="upstream-models"]`).Text(), "deepseek-v3")
	require.Equal(t, "已保存 API 密钥（加密）", strings.TrimSpace(row.Find(`[data-testid="upstream-secret"]`).Text()))
	var sealed []byte
	var id int64
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT id, secret_sealed FROM relay_upstreams WHERE name = $1`, name).Scan(&id, &sealed))
	require.NotContains(t, string(sealed), secret, "sealed at rest")

	edit := row.Find(`[data-testid="upstream-edit"]`).AttrOr("href", "")
	p = admin.Get(edit)
	require.Equal(t, http.StatusOK, p.Status)
	require.Empty(t, p.Doc.Find(`[data-testid="upstream-secret-input"]`).AttrOr("value", ""), "the secret is write-only")
	require.NotContains(t, p.Body, secret)
	require.Equal(t, "3", p.Doc.Find(`[data-testid="upstream-weight-input"]`).AttrOr("value", ""))
	p = admin.PostForm(edit, url.Values{"name": {name}, "base_url": {"https://api.deepseek.com/v1"}, "secret": {""},
		"models": {"deepseek-chat=deepseek-v3"}, "weight": {"0"}, "priority": {"1"}, "timeout_ms": {"30000"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotEmpty(t, p.TestID("error-weight"))
	require.Empty(t, p.TestID("error-secret"), "an empty secret keeps the stored one")
	p = admin.PostForm(edit, url.Values{"name": {name}, "base_url": {"https://api.deepseek.com/v1"}, "secret": {""},
		"models": {"deepseek-chat=deepseek-v3"}, "weight": {"5"}, "priority": {"1"}, "timeout_ms": {"30000"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	row = p.Doc.Find(`[data-testid="upstream-row"][data-name="` + name + `"]`)
	require.Contains(t, row.Find(`[data-testid="upstream-routing"]`).Text(), "权重 5")
	require.Equal(t, "已停用", strings.TrimSpace(row.Find(`[data-testid="upstream-state"]`).Text()))
	var after []byte
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT secret_sealed FROM relay_upstreams WHERE id = $1`, id).Scan(&after))
	require.Equal(t, sealed, after, "the stored secret is kept")
	var n int
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT count(*) FROM admin_audit_log WHERE action IN ('relay_upstream_created', 'relay_upstream_changed')
		AND detail->>'upstream_id' = $1 AND detail::text NOT LIKE '%'||$2||'%'`, strconv.FormatInt(id, 10), secret).Scan(&n))
	require.Equal(t, 2, n)

	require.Equal(t, http.StatusNotFound, admin.Get("/admin/upstreams/1099511627776").Status)
}
