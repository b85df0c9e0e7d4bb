package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/web/webtest"
)

// createKey posts the create form and returns the page and the secret it shows.
func createKey(t *testing.T, c *webtest.Client, name, mode string) (*webtest.Page, string) {
	t.Helper()
	p := c.PostForm("/admin/keys", url.Values{"name": {name}, "mode": {mode}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "no-store", p.Header.Get("Cache-Control"), "the one answer carrying a secret is never cached")
	secret := p.TestID("key-secret")
	require.True(t, strings.HasPrefix(secret, "sk_"+mode+"_"), secret)
	return p, secret
}

// keyIDByName finds a key's id on the list page.
func keyIDByName(t *testing.T, p *webtest.Page, name string) int64 {
	t.Helper()
	var id int64
	p.Doc.Find(`[data-testid="keys-table"] tbody tr`).Each(func(_ int, row *goquery.Selection) {
		if strings.TrimSpace(row.Find(`[data-testid="key-name"]`).Text()) == name {
			_, err := fmt.Sscanf(row.AttrOr("data-testid", ""), "key-%d", &id)
			require.NoError(t, err)
		}
	})
	require.NotZero(t, id, "no row named %q", name)
	return id
}

// An admin creates a live and a sandbox key in the back office: each
// secret is shown once, on an uncached page, and works against the API
// in its own mode; only hashes and prefixes reach the database, the audit
// log and the server log. Revoking stops the key at once; revoking again
// says so.
func TestAdminServiceKeysCreateShowOnceUseAndRevoke(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	b := setupAdmin(t, webtest.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	ctx := context.Background()
	admin := b.staff(t, "keys-admin", auth.RoleAdmin)
	adminUser, err := b.auth.UserByLogin(ctx, strings.TrimSpace(admin.Get("/admin").TestID("staff-login")))
	require.NoError(t, err)

	p := admin.Get("/admin/keys")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "服务密钥", p.TestID("admin-menu-admin.keys"))

	liveName, testName := fmt.Sprintf("gateway-prod-%d", adminSeq.Add(1)), fmt.Sprintf("网关-测试-%d", adminSeq.Add(1))
	p, live := createKey(t, admin, "  "+liveName+"  ", "live")
	require.Contains(t, p.TestID("key-once-notice"), "不会再次显示")
	require.Equal(t, liveName, p.TestID("key-created-name"), "the name is trimmed")
	require.Equal(t, "正式", p.Text(`[data-testid="key-created"] [data-testid="key-mode"]`))
	admin.Get("/lang/en")
	p, sandbox := createKey(t, admin, testName, "test")
	require.Contains(t, p.TestID("key-once-notice"), "it will not be shown again")
	admin.Get("/lang/zh-CN")

	// The list shows both keys, newest first, by prefix only.
	p = admin.Get("/admin/keys")
	require.Equal(t, http.StatusOK, p.Status)
	for _, secret := range []string{live, sandbox} {
		require.NotContains(t, p.Body, secret, "a secret is shown once")
		require.NotContains(t, p.Body, secret[16:])
	}
	liveID, testID := keyIDByName(t, p, liveName), keyIDByName(t, p, testName)
	require.Greater(t, testID, liveID)
	rows := p.Doc.Find(`[data-testid="keys-table"] tbody tr`)
	require.Equal(t, fmt.Sprintf("key-%d", testID), rows.First().AttrOr("data-testid", ""), "newest first")
	liveRow := fmt.Sprintf(`[data-testid="key-%d"] `, liveID)
	require.Equal(t, live[:16]+"…", p.Text(liveRow+`[data-testid="key-prefix"]`))
	require.Equal(t, "正式", p.Text(liveRow+`[data-testid="key-mode"]`))
	require.Equal(t, "沙箱", p.Text(fmt.Sprintf(`[data-testid="key-%d"] [data-testid="key-mode"]`, testID)))
	require.Equal(t, "从未使用", p.Text(liveRow+`[data-testid="key-last-used"]`))
	require.Equal(t, "有效", p.Text(liveRow+`[data-testid="key-status"]`))

	// Each secret works against the API, in its own mode only.
	liveAPI, sandboxAPI := newAPIClient(t, b.app.URL, live), newAPIClient(t, b.app.URL, sandbox)
	require.Equal(t, http.StatusOK, liveAPI.do(http.MethodGet, "/v1/rate-card", nil).Status)
	require.Equal(t, http.StatusOK, sandboxAPI.do(http.MethodGet, "/v1/rate-card", nil).Status)
	ext := uniq(t, "acme")
	require.Equal(t, http.StatusCreated, sandboxAPI.do(http.MethodPut, "/v1/accounts/"+ext, map[string]any{}).Status)
	r := liveAPI.do(http.MethodGet, "/v1/accounts/"+ext+"/balance", nil)
	require.Equal(t, http.StatusNotFound, r.Status, "a live key does not see a sandbox account")
	require.Equal(t, http.StatusOK, sandboxAPI.do(http.MethodGet, "/v1/accounts/"+ext+"/balance", nil).Status)
	p = admin.Get("/admin/keys")
	require.NotEqual(t, "从未使用", p.Text(liveRow+`[data-testid="key-last-used"]`), "the list shows the last use")

	// The database holds the hash and the prefix, never the secret.
	for _, secret := range []string{live, sandbox} {
		var hits int
		require.NoError(t, b.app.Pool.QueryRow(ctx, `
SELECT (SELECT count(*) FROM api_keys k WHERE row_to_json(k)::text LIKE '%' || $1 || '%')
     + (SELECT count(*) FROM admin_audit_log a WHERE row_to_json(a)::text LIKE '%' || $1 || '%')
     + (SELECT count(*) FROM sessions s WHERE position(convert_to($1, 'UTF8') IN s.data) > 0)`, secret[16:]).Scan(&hits))
		require.Zero(t, hits, "the secret's random part is in no key, audit or session row")
	}
	var hash []byte
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT hash FROM api_keys WHERE id = $1`, liveID).Scan(&hash))
	require.Len(t, hash, 32)

	// Revoking asks first, on the page itself (no JavaScript needed).
	p = admin.Get(fmt.Sprintf("/admin/keys?revoke=%d", liveID))
	require.Equal(t, http.StatusOK, p.Status)
	box := p.Doc.Find(`[data-testid="key-revoke-confirm-box"]`)
	require.Equal(t, 1, box.Length())
	require.Contains(t, box.Text(), liveName)
	require.Equal(t, fmt.Sprintf("/admin/keys/%d/revoke", liveID), box.Find("form").AttrOr("action", ""))
	p = admin.PostForm(fmt.Sprintf("/admin/keys/%d/revoke", liveID), nil)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.TestID("flash-success"), "已吊销")
	require.Contains(t, p.Text(liveRow+`[data-testid="key-status"]`), "已吊销")
	require.Equal(t, 0, p.Doc.Find(liveRow+`[data-testid="key-revoke"]`).Length(), "a revoked key offers no revoke")
	r = liveAPI.do(http.MethodGet, "/v1/rate-card", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status, "refused at once, though this server had just cached the key")
	require.Equal(t, http.StatusOK, sandboxAPI.do(http.MethodGet, "/v1/rate-card", nil).Status, "the other key still works")
	p = admin.Get(fmt.Sprintf("/admin/keys?revoke=%d", liveID))
	require.Equal(t, 0, p.Doc.Find(`[data-testid="key-revoke-confirm-box"]`).Length(), "nothing to confirm for a revoked key")

	t.Run("RevokingTwiceSaysSo", func(t *testing.T) {
		p := admin.PostForm(fmt.Sprintf("/admin/keys/%d/revoke", liveID), nil)
		require.Equal(t, http.StatusConflict, p.Status)
		require.Contains(t, p.TestID("error"), "已被吊销")
		admin.Get("/lang/en")
		defer admin.Get("/lang/zh-CN")
		p = admin.PostForm(fmt.Sprintf("/admin/keys/%d/revoke", liveID), nil)
		require.Equal(t, http.StatusConflict, p.Status)
		require.Contains(t, p.TestID("error"), "already revoked")
		require.Equal(t, http.StatusNotFound, admin.PostForm("/admin/keys/999999999/revoke", nil).Status)
	})

	t.Run("TheAuditLogHasBothRowsWithoutTheSecret", func(t *testing.T) {
		for _, c := range []struct {
			action backoffice.Action
			label  string
		}{{backoffice.ActionAPIKeyCreated, "创建服务密钥"}, {backoffice.ActionAPIKeyRevoked, "吊销服务密钥"}} {
			rows, _, err := b.bo.AuditLog(ctx, backoffice.AuditFilter{ActorID: adminUser.ID, Action: c.action}, 0, 10)
			require.NoError(t, err)
			var found bool
			for _, row := range rows {
				var d map[string]any
				require.NoError(t, json.Unmarshal(row.Detail, &d))
				if d["key_id"] != float64(liveID) {
					continue
				}
				found = true
				require.Equal(t, map[string]any{"key_id": float64(liveID), "prefix": live[:16], "mode": "live", "name": liveName}, d)
				require.Equal(t, adminUser.Email, row.ActorEmail)
				require.NotContains(t, string(row.Detail), live)
			}
			require.True(t, found, "no %s row for key %d", c.action, liveID)
			p := admin.Get("/admin/audit?action=" + string(c.action))
			require.Equal(t, http.StatusOK, p.Status)
			require.Contains(t, p.Text(`[data-testid="audit-`+string(c.action)+`"]`), c.label, "the action has its translated name")
			require.NotContains(t, p.Body, live[16:])
		}
	})

	t.Run("NothingOfTheSecretIsLogged", func(t *testing.T) {
		out := logs.String()
		require.Contains(t, out, "/admin/keys", "the request log was captured")
		for _, secret := range []string{live, sandbox} {
			require.NotContains(t, out, secret[16:])
		}
	})
}

// Bad input re-renders the form with 422 and the message next to its
// field, in the user's language, and creates nothing.
func TestAdminServiceKeyFormErrors(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	admin := b.staff(t, "keys-admin", auth.RoleAdmin)
	admin.Get("/admin/keys")
	tooLong := strings.Repeat("k", gateway.KeyNameMaxLen+1)
	cases := []struct {
		name, mode, field, zh, en string
	}{
		{"   ", "live", "name", "请填写名称（1 至 64 个字符）。", "Enter a name of 1 to 64 characters."},
		{tooLong, "test", "name", "请填写名称（1 至 64 个字符）。", "Enter a name of 1 to 64 characters."},
		{"gateway", "staging", "mode", "请选择沙箱或正式。", "Choose sandbox or live."},
		{"gateway", "", "mode", "请选择沙箱或正式。", "Choose sandbox or live."},
	}
	require.Contains(t, cases[0].en, fmt.Sprint(gateway.KeyNameMaxLen), "the message states the gateway's limit")
	for _, c := range cases {
		p := admin.PostForm("/admin/keys", url.Values{"name": {c.name}, "mode": {c.mode}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status, "%q %q", c.name, c.mode)
		require.Equal(t, c.zh, p.TestID("error-"+c.field))
		require.Empty(t, p.TestID("key-secret"))
		if c.field == "mode" {
			require.Equal(t, c.name, p.Doc.Find(`[data-testid="key-name-input"]`).AttrOr("value", ""), "what was typed is kept")
		}
		admin.Get("/lang/en")
		p = admin.PostForm("/admin/keys", url.Values{"name": {c.name}, "mode": {c.mode}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Equal(t, c.en, p.TestID("error-"+c.field))
		admin.Get("/lang/zh-CN")
	}
	var n int
	require.NoError(t, b.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM api_keys WHERE name IN ('gateway', $1)`, tooLong).Scan(&n))
	require.Zero(t, n)
}

// Only admins reach service keys: support and finance get 403 and neither
// see the menu entry.
func TestAdminServiceKeysAreForAdminsOnly(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	want := map[string]string{"admin.keys": "GET /admin/keys", "admin.keys.create": "POST /admin/keys", "admin.key.revoke": "POST /admin/keys/:id/revoke"}
	for _, rt := range b.app.Server.AdminRoutes() {
		if route, ok := want[rt.Name]; ok {
			require.Equal(t, route, rt.Method+" "+rt.Path)
			require.Equal(t, []auth.Role{auth.RoleAdmin}, rt.Roles, rt.Name)
			delete(want, rt.Name)
		}
	}
	require.Empty(t, want, "the service key routes are in the table the role test walks")
	for _, role := range []auth.Role{auth.RoleSupport, auth.RoleFinance} {
		c := b.staff(t, "keys-"+string(role), role)
		require.Empty(t, c.Get("/admin").TestID("admin-menu-admin.keys"))
		require.Equal(t, http.StatusForbidden, c.Get("/admin/keys").Status)
		require.Equal(t, http.StatusForbidden, c.PostForm("/admin/keys", url.Values{"name": {"x"}, "mode": {"live"}}).Status)
		require.Equal(t, http.StatusForbidden, c.PostForm("/admin/keys/1/revoke", nil).Status)
	}
	var n int
	require.NoError(t, b.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM api_keys WHERE name = 'x'`).Scan(&n))
	require.Zero(t, n)
}
