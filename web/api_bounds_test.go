package web_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// Out-of-range numbers are refused at the edge with a code that says not
// to retry, and charge nothing: a grant beyond what the ledger holds, a
// commit or a usage event with a count of tokens no call has.
func TestAPIRefusesOutOfRangeNumbers(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ext := b.account(c, uniq(t, "acct"), map[string]any{"verification": verified})
	b.grant(c, ext, "1000", "g")

	for _, amount := range []string{"1e30", "999999999999999999", "1000000000000.000001"} {
		r := c.doInvalid(http.MethodPost, "/v1/accounts/"+ext+"/grants", map[string]any{
			"amount": amount, "kind": "promo", "reason_code": "signup", "idempotency_key": "huge-" + amount})
		require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", amount, r.Body)
		require.Equal(t, "invalid_amount", r.Code(t), amount)
	}

	r := b.reserve(c, ext, "r1", 10, 10)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	id := r.JSON(t)["id"].(string)
	r = c.doInvalid(http.MethodPost, "/v1/reservations/"+id+"/commit", map[string]any{"input_tokens": int64(math.MaxInt64)})
	require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
	require.Equal(t, "invalid_request", r.Code(t))
	r = c.doInvalid(http.MethodPost, "/v1/reservations/"+id+"/commit", map[string]any{"input_tokens": 1_000_000_001})
	require.Equal(t, http.StatusBadRequest, r.Status, "one past the bound")

	for i, ev := range []map[string]any{
		{"input_tokens": int64(math.MaxInt64)},
		{"output_tokens": 1_000_000_001},
		{"cache_hit_tokens": int64(math.MaxInt64)},
		{"requests": int64(math.MaxInt64)},
	} {
		ev["idempotency_key"], ev["account"], ev["model"] = "big-"+string(rune('a'+i)), ext, "deepseek-chat"
		ev["occurred_at"] = time.Now().UTC().Format(time.RFC3339Nano)
		r := c.doInvalid(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{ev}})
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		rej := r.JSON(t)["rejected"].([]any)
		require.Len(t, rej, 1, "%v", ev)
		require.Equal(t, "invalid_event", rej[0].(map[string]any)["code"], "refused for good, not 'unavailable' (retry)")
	}

	// The commit was refused, so the hold still stands and nothing was charged.
	bal := b.balance(c, ext)
	require.Equal(t, "0.1", bal["reserved"], "only the hold: %v", bal)
	require.Equal(t, "999.9", bal["available"], "nothing charged: %v", bal)
	require.Equal(t, http.StatusOK, c.do(http.MethodPost, "/v1/reservations/"+id+"/commit", map[string]any{"input_tokens": 10}).Status)
}

// The back office's numbers are bounded too: a grant beyond what the ledger
// holds is the amount field's error, and a statement line beyond what the
// lines' column holds is its row's error; neither is a 500.
func TestBackOfficeRefusesOutOfRangeNumbers(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	support := b.staff(t, "bounds-support", auth.RoleSupport)
	finance := b.staff(t, "bounds-finance", auth.RoleFinance)
	_, cust := b.register(t, uniqEmail("bounds"), "Bounds Customer")
	page := fmt.Sprintf("/admin/customers/%d", cust.AccountID)
	key, _ := support.Get(page).Doc.Find(`[data-testid="grant-form"] input[name="idempotency_key"]`).Attr("value")
	expires := time.Now().AddDate(0, 1, 0).In(format.Shanghai).Format("2006-01-02")
	for _, amount := range []string{"1e30", "999999999999999999"} {
		r := support.PostForm(page+"/grant", url.Values{"amount": {amount}, "expires_at": {expires}, "reason_code": {"goodwill"}, "idempotency_key": {key}})
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, amount)
		require.NotEmpty(t, r.TestID("error-amount"), amount)
	}
	bal, err := b.ledger.Balance(context.Background(), cust.AccountID)
	require.NoError(t, err)
	require.Equal(t, "5000", bal.Available.String(), "only the sign-up credit")

	csv := "交易日期,对方户名,贷方金额,摘要,流水号\n2026-12-01,某某科技有限公司,99999999999999.99,T1,S-HUGE-1\n"
	r := upload(t, finance, "/admin/statements", "file", "huge.csv", []byte(csv))
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, r.Body)
	require.Contains(t, r.Body, "999,999,999,999.99", "the error names the largest amount")
}

// TestAPINamesEveryBadFieldAtOnce: a request with several wrong fields is
// answered 400 invalid_request listing every one of them, each with its
// reason — a grant, a transfer and an account — as the forms do. Before,
// the answer named the first field only, and a client fixing its request
// met the next one on the next call.
func TestAPINamesEveryBadFieldAtOnce(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	ext := b.account(b.live, "bad-fields", nil)
	fieldsOf := func(r apiResp) []string {
		t.Helper()
		require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
		require.Equal(t, "invalid_request", r.Code(t))
		var out []string
		for _, f := range r.JSON(t)["error"].(map[string]any)["fields"].([]any) {
			out = append(out, f.(map[string]any)["field"].(string))
		}
		return out
	}
	r := b.live.doInvalid(http.MethodPost, "/v1/accounts/"+ext+"/grants", map[string]any{"kind": "bogus", "amount": "-5",
		"expires_at": "2000-01-01T00:00:00Z"})
	require.Equal(t, []string{"kind", "amount", "idempotency_key", "reason_code", "expires_at"}, fieldsOf(r))

	r = b.live.doInvalid(http.MethodPost, "/v1/accounts/"+ext+"/transfers", map[string]any{"amount": "0"})
	require.Equal(t, []string{"to", "amount", "idempotency_key"}, fieldsOf(r))

	r = b.live.doInvalid(http.MethodPut, "/v1/accounts/"+uniq(t, "bad-account"), map[string]any{"kind": "sub",
		"allocation": "-1", "rpm": -1, "tpm": -2, "verification": map[string]any{"status": "maybe"}})
	require.Equal(t, []string{"parent", "allocation", "rpm", "tpm", "verification"}, fieldsOf(r))
}
