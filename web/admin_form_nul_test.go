package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// A back-office form holding a NUL character (a grant's reason code or
// key, a freeze reason, a key's or an upstream's name) is refused with 400
// before it reaches the database, where it was a 500; the same form
// without it still works.
func TestAdminFormWithNULIsRefused(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	support := b.staff(t, "nulform-support", auth.RoleSupport)
	admin := b.staff(t, "nulform-admin", auth.RoleAdmin)
	_, cust := b.register(t, uniqEmail("nulform"), "NUL Customer")
	page := fmt.Sprintf("/admin/customers/%d", cust.AccountID)
	key, _ := support.Get(page).Doc.Find(`[data-testid="grant-form"] input[name="idempotency_key"]`).Attr("value")
	expires := time.Now().AddDate(0, 1, 0).In(format.Shanghai).Format("2006-01-02")
	check := func(status int, what string) {
		require.Equal(t, http.StatusBadRequest, status, what)
	}
	check(support.PostForm(page+"/grant", url.Values{"amount": {"5"}, "expires_at": {expires}, "reason_code": {"goodwill\x00"}, "idempotency_key": {key}}).Status, "grant reason")
	check(support.PostForm(page+"/grant", url.Values{"amount": {"5"}, "expires_at": {expires}, "reason_code": {"goodwill"}, "idempotency_key": {key + "\x00"}}).Status, "grant key")
	check(support.PostForm(page+"/freeze", url.Values{"reason": {"x\x00y"}}).Status, "freeze reason")
	check(admin.PostForm("/admin/keys", url.Values{"name": {"k\x00"}, "mode": {"test"}}).Status, "key name")
	check(admin.PostForm("/admin/upstreams", url.Values{"name": {"u\x00"}, "base_url": {"https://x.example/v1"}, "secret": {"s"},
		"models": {"deepseek-chat=x"}, "weight": {"1"}, "priority": {"0"}, "timeout_ms": {"1000"}}).Status, "upstream name")
	bal, err := b.ledger.Balance(t.Context(), cust.AccountID)
	require.NoError(t, err)
	require.Equal(t, "5000", bal.Available.String(), "only the sign-up credit")
	require.Equal(t, http.StatusOK, support.PostForm(page+"/grant", url.Values{"amount": {"5"}, "expires_at": {expires}, "reason_code": {"goodwill"}, "idempotency_key": {key}}).Status)
	bal, err = b.ledger.Balance(t.Context(), cust.AccountID)
	require.NoError(t, err)
	require.Equal(t, "5005", bal.Available.String(), "the same grant without NUL lands")
}
