package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/web"
	"github.com/seed75218f88/credits/web/webtest"
)

func dec(t *testing.T, v any) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(fmt.Sprint(v))
	require.NoError(t, err)
	return d
}

func TestAPIAccountsGrantsBalanceAndLedger(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ext := uniq(t, "acme")

	r := c.do(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"kind": "enterprise", "name": "Acme", "rpm": 100})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	acct := r.JSON(t)
	require.Equal(t, "enterprise", acct["kind"])
	require.Equal(t, "live", acct["mode"])
	require.EqualValues(t, 20, acct["rpm"], "unverified: the trial limit caps the account's own")
	require.Equal(t, false, acct["verified"])

	t.Run("PutAgainIsIdempotent", func(t *testing.T) {
		r := c.do(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"kind": "enterprise", "name": "Acme", "rpm": 100,
			"verification": map[string]any{"status": "verified", "reference": "kyc-42"}})
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		require.Equal(t, acct["id"], r.JSON(t)["id"])
		require.Equal(t, true, r.JSON(t)["verified"])
		require.EqualValues(t, 100, r.JSON(t)["rpm"], "verified: its own limit")
		var actor, ref string
		require.NoError(t, b.pool.QueryRow(context.Background(),
			`SELECT decided_by, provider_reference FROM verifications WHERE account_id = $1 AND source = 'external' ORDER BY id LIMIT 1`,
			int64(acct["id"].(float64))).Scan(&actor, &ref))
		require.Equal(t, "kyc-42", ref)
		require.Contains(t, actor, "api_key:")
	})
	t.Run("SubAccountWithAllocation", func(t *testing.T) {
		sub := uniq(t, "dept")
		r := c.do(http.MethodPut, "/v1/accounts/"+sub, map[string]any{"kind": "sub", "parent": ext, "allocation": "50"})
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
		require.Equal(t, ext, r.JSON(t)["parent"])
		require.True(t, dec(t, r.JSON(t)["allocation"]).Equal(decimal.NewFromInt(50)))
		r = c.do(http.MethodPut, "/v1/accounts/"+sub, map[string]any{"kind": "sub", "parent": ext, "allocation": "80"})
		require.Equal(t, http.StatusOK, r.Status)
		require.True(t, dec(t, r.JSON(t)["allocation"]).Equal(decimal.NewFromInt(80)))
	})
	t.Run("KindCannotChange", func(t *testing.T) {
		r := c.do(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"kind": "individual"})
		require.Equal(t, http.StatusConflict, r.Status)
		require.Equal(t, "account_conflict", r.Code(t))
	})
	t.Run("InvalidBody", func(t *testing.T) {
		r := c.doInvalid(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"kind": "planet"})
		require.Equal(t, http.StatusBadRequest, r.Status)
		require.Equal(t, "invalid_request", r.Code(t))
		r = c.doInvalid(http.MethodPut, "/v1/accounts/"+ext, "{not json")
		require.Equal(t, "invalid_request", r.Code(t))
		r = c.doInvalid(http.MethodPut, "/v1/accounts/"+ext, `{"name":"a"} {"name":"b"}`)
		require.Equal(t, http.StatusBadRequest, r.Status, "a body is one JSON value")
		require.Equal(t, "invalid_request", r.Code(t))
		r = c.doInvalid(http.MethodPut, "/v1/accounts/"+ext, `{"name":"`+strings.Repeat("x", 9<<20)+`"}`)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, "over the body limit")
		require.Equal(t, "too_large", r.Code(t))
	})

	expires := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	grant := map[string]any{"amount": "1000", "kind": "promo", "reason_code": "signup", "idempotency_key": "g1",
		"expires_at": expires.Format(time.RFC3339)}
	r = c.do(http.MethodPost, "/v1/accounts/"+ext+"/grants", grant)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	lot := r.JSON(t)["lot"].(map[string]any)
	require.Equal(t, "promo", lot["kind"])

	t.Run("GrantRetryReturnsTheSameLot", func(t *testing.T) {
		r := c.do(http.MethodPost, "/v1/accounts/"+ext+"/grants", grant)
		require.Equal(t, http.StatusCreated, r.Status)
		require.Equal(t, lot["id"], r.JSON(t)["lot"].(map[string]any)["id"])
	})
	t.Run("GrantSameKeyOtherBodyConflicts", func(t *testing.T) {
		other := map[string]any{"amount": "999", "kind": "promo", "reason_code": "signup", "idempotency_key": "g1"}
		r := c.do(http.MethodPost, "/v1/accounts/"+ext+"/grants", other)
		require.Equal(t, http.StatusConflict, r.Status)
		require.Equal(t, "idempotency_conflict", r.Code(t))
	})
	b.grant(c, ext, "500", "g2")

	bal := b.balance(c, ext)
	require.True(t, dec(t, bal["available"]).Equal(decimal.NewFromInt(1500)), "%v", bal)
	require.True(t, dec(t, bal["by_kind"].(map[string]any)["promo"]).Equal(decimal.NewFromInt(1500)))
	lots := bal["lots"].([]any)
	require.Len(t, lots, 2)
	require.Equal(t, lot["id"], lots[0].(map[string]any)["id"], "the expiring lot is spent first")
	exp := bal["expiring"].([]any)
	require.Len(t, exp, 1)
	require.True(t, dec(t, exp[0].(map[string]any)["amount"]).Equal(decimal.NewFromInt(1000)))

	t.Run("LedgerPaginatesNewestFirst", func(t *testing.T) {
		r := c.do(http.MethodGet, "/v1/accounts/"+ext+"/ledger?limit=1", nil)
		require.Equal(t, http.StatusOK, r.Status)
		page := r.JSON(t)
		evs := page["events"].([]any)
		require.Len(t, evs, 1)
		first := evs[0].(map[string]any)
		require.Equal(t, "grant", first["type"])
		require.True(t, dec(t, first["amount"]).Equal(decimal.NewFromInt(500)))
		next := page["next_cursor"].(string)
		r = c.do(http.MethodGet, "/v1/accounts/"+ext+"/ledger?limit=50&cursor="+next, nil)
		evs = r.JSON(t)["events"].([]any)
		require.NotEmpty(t, evs)
		require.Less(t, evs[0].(map[string]any)["id"].(float64), first["id"].(float64))
		r = c.doInvalid(http.MethodGet, "/v1/accounts/"+ext+"/ledger?cursor=abc", nil)
		require.Equal(t, http.StatusBadRequest, r.Status)
	})
	t.Run("UnknownAccount", func(t *testing.T) {
		r := c.do(http.MethodGet, "/v1/accounts/"+uniq(t, "nobody")+"/balance", nil)
		require.Equal(t, http.StatusNotFound, r.Status)
		require.Equal(t, "not_found", r.Code(t))
	})
	t.Run("PortalSession", func(t *testing.T) {
		r := c.do(http.MethodPost, "/v1/accounts/"+ext+"/portal-sessions", nil)
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
		require.True(t, strings.HasPrefix(r.JSON(t)["url"].(string), b.app.URL+"/portal/link/"))
		r = c.do(http.MethodPost, "/v1/accounts/"+uniq(t, "nobody")+"/portal-sessions", nil)
		require.Equal(t, http.StatusNotFound, r.Status)
	})
	t.Run("RateCard", func(t *testing.T) {
		r := c.do(http.MethodGet, "/v1/rate-card", nil)
		require.Equal(t, http.StatusOK, r.Status)
		card := r.JSON(t)
		require.GreaterOrEqual(t, len(card["models"].([]any)), 8)
		require.Positive(t, card["version"].(float64))
	})
}

func TestAPIAuthentication(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	r := b.anon.do(http.MethodGet, "/v1/rate-card", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Equal(t, "unauthorized", r.Code(t))
	bad := newAPIClient(t, b.app.URL, "sk_live_"+strings.Repeat("x", 43))
	require.Equal(t, http.StatusUnauthorized, bad.do(http.MethodGet, "/v1/rate-card", nil).Status)

	require.Equal(t, http.StatusOK, b.live.do(http.MethodGet, "/v1/rate-card", nil).Status)
	require.NoError(t, b.gw.Keys.Revoke(context.Background(), b.liveKey.ID))
	r = b.live.do(http.MethodGet, "/v1/rate-card", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status, "a revoked key stops working")

	var hash []byte
	var prefix string
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT prefix, hash FROM api_keys WHERE id = $1`, b.liveKey.ID).Scan(&prefix, &hash))
	require.Len(t, hash, 32)
	require.NotEqual(t, b.live.key, prefix, "the secret itself is not stored")
	require.True(t, strings.HasPrefix(b.live.key, prefix))
}

func TestAPISandboxAndLiveNeverMeet(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	live := b.account(b.live, uniq(t, "live-only"), nil)
	sandbox := b.account(b.sandbox, uniq(t, "sandbox-only"), nil)
	b.grant(b.live, live, "100", "l1")
	b.grant(b.sandbox, sandbox, "100", "s1")

	for _, tc := range []struct {
		name string
		c    *apiClient
		ext  string
	}{{"SandboxKeyLiveAccount", b.sandbox, live}, {"LiveKeySandboxAccount", b.live, sandbox}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/balance", "/ledger"} {
				r := tc.c.do(http.MethodGet, "/v1/accounts/"+tc.ext+path, nil)
				require.Equal(t, http.StatusNotFound, r.Status)
				require.NotContains(t, string(r.Body), "100")
			}
			r := tc.c.do(http.MethodPost, "/v1/accounts/"+tc.ext+"/grants",
				map[string]any{"amount": "1", "kind": "promo", "reason_code": "x", "idempotency_key": "k"})
			require.Equal(t, http.StatusNotFound, r.Status)
			r = b.reserve(tc.c, tc.ext, "k", 10, 10)
			require.Equal(t, http.StatusNotFound, r.Status)
			require.Equal(t, http.StatusNotFound, tc.c.do(http.MethodPost, "/v1/accounts/"+tc.ext+"/portal-sessions", nil).Status)
		})
	}
	t.Run("ReservationIDsDoNotCross", func(t *testing.T) {
		r := b.reserve(b.live, live, "r1", 100, 100)
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
		id := r.JSON(t)["id"].(string)
		r = b.sandbox.do(http.MethodPost, "/v1/reservations/"+id+"/commit", map[string]any{"input_tokens": 1})
		require.Equal(t, http.StatusNotFound, r.Status)
		r = b.sandbox.do(http.MethodPost, "/v1/reservations/"+id+"/release", nil)
		require.Equal(t, http.StatusNotFound, r.Status)
		r = b.live.do(http.MethodPost, "/v1/reservations/"+id[:len(id)-2]+"AA/release", nil)
		require.Equal(t, http.StatusNotFound, r.Status, "a forged id")
		require.Equal(t, http.StatusOK, b.live.do(http.MethodPost, "/v1/reservations/"+id+"/release", nil).Status)
	})
	t.Run("SameExternalIDInBothModesAreTwoAccounts", func(t *testing.T) {
		ext := uniq(t, "both")
		b.account(b.live, ext, nil)
		b.account(b.sandbox, ext, nil)
		b.grant(b.live, ext, "7", "x")
		require.True(t, dec(t, b.balance(b.live, ext)["available"]).Equal(decimal.NewFromInt(7)))
		require.True(t, dec(t, b.balance(b.sandbox, ext)["available"]).IsZero())
	})
}

func TestAPIReserveCommitRelease(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ext := b.account(c, uniq(t, "a"), map[string]any{"verification": map[string]any{"status": "verified", "reference": "r"}})
	b.grant(c, ext, "100", "g")

	// deepseek-chat: 2 credits per 1k input, 8 per 1k output, 0.5 per 1k cache hits.
	r := b.reserve(c, ext, "call-1", 1000, 2000)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	res := r.JSON(t)
	require.True(t, dec(t, res["reserved"]).Equal(decimal.NewFromInt(18)))
	id := res["id"].(string)

	t.Run("RetrySameBodySameReservation", func(t *testing.T) {
		r := b.reserve(c, ext, "call-1", 1000, 2000)
		require.Equal(t, http.StatusCreated, r.Status)
		require.Equal(t, id, r.JSON(t)["id"])
		require.True(t, dec(t, b.balance(c, ext)["reserved"]).Equal(decimal.NewFromInt(18)), "held once")
	})
	t.Run("RetryOtherBodyConflicts", func(t *testing.T) {
		r := b.reserve(c, ext, "call-1", 1000, 1000)
		require.Equal(t, http.StatusConflict, r.Status)
		require.Equal(t, "idempotency_conflict", r.Code(t))
		r = c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "qwen-plus",
			"max_input_tokens": 1000, "max_output_tokens": 2000, "idempotency_key": "call-1"})
		require.Equal(t, http.StatusConflict, r.Status, "same amount, other model: still a conflict")
	})

	commit := map[string]any{"input_tokens": 500, "output_tokens": 1000, "cache_hit_tokens": 1000, "outcome": "completed"}
	r = c.do(http.MethodPost, "/v1/reservations/"+id+"/commit", commit)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	got := r.JSON(t)
	require.True(t, dec(t, got["charged"]).Equal(decimal.RequireFromString("9.5")), "%v", got) // 1 + 8 + 0.5
	require.True(t, dec(t, got["released"]).Equal(decimal.RequireFromString("8.5")))
	require.True(t, dec(t, got["available"]).Equal(decimal.RequireFromString("90.5")))

	t.Run("CommitRetryReturnsTheFirstResult", func(t *testing.T) {
		r := c.do(http.MethodPost, "/v1/reservations/"+id+"/commit", commit)
		require.Equal(t, http.StatusOK, r.Status)
		require.True(t, dec(t, r.JSON(t)["charged"]).Equal(decimal.RequireFromString("9.5")))
		r = c.do(http.MethodPost, "/v1/reservations/"+id+"/commit", map[string]any{"input_tokens": 1})
		require.Equal(t, http.StatusConflict, r.Status)
		require.Equal(t, "idempotency_conflict", r.Code(t))
		require.True(t, dec(t, b.balance(c, ext)["available"]).Equal(decimal.RequireFromString("90.5")), "charged once")
	})
	t.Run("ReleaseAfterCommitIsClosed", func(t *testing.T) {
		r := c.do(http.MethodPost, "/v1/reservations/"+id+"/release", nil)
		require.Equal(t, http.StatusConflict, r.Status)
		require.Equal(t, "reservation_closed", r.Code(t))
	})
	t.Run("LedgerCarriesTheUsageDetail", func(t *testing.T) {
		r := c.do(http.MethodGet, "/v1/accounts/"+ext+"/ledger", nil)
		var found bool
		for _, e := range r.JSON(t)["events"].([]any) {
			ev := e.(map[string]any)
			d, ok := ev["detail"].(map[string]any)
			if ok && d["outcome"] == "completed" {
				found = true
				require.EqualValues(t, 500, d["input_tokens"])
				require.EqualValues(t, 1000, d["output_tokens"])
				require.EqualValues(t, 1000, d["cache_hit_tokens"])
				require.EqualValues(t, 1, d["requests"])
				require.Positive(t, d["rate_card_version"].(float64))
				require.Equal(t, "deepseek-chat", ev["model"])
			}
		}
		require.True(t, found)
	})
	t.Run("Outcomes", func(t *testing.T) {
		r := b.reserve(c, ext, "call-2", 1000, 1000)
		id := r.JSON(t)["id"].(string)
		r = c.do(http.MethodPost, "/v1/reservations/"+id+"/commit", map[string]any{"outcome": "upstream_error"})
		require.Equal(t, http.StatusOK, r.Status)
		require.True(t, dec(t, r.JSON(t)["charged"]).IsZero(), "upstream error without tokens charges nothing")
		r = b.reserve(c, ext, "call-3", 1000, 1000)
		id = r.JSON(t)["id"].(string)
		r = c.do(http.MethodPost, "/v1/reservations/"+id+"/commit", map[string]any{"output_tokens": 250, "outcome": "client_disconnected"})
		require.True(t, dec(t, r.JSON(t)["charged"]).Equal(decimal.NewFromInt(2)), "the tokens produced before the disconnect")
		r = c.doInvalid(http.MethodPost, "/v1/reservations/"+id+"/commit", map[string]any{"outcome": "maybe"})
		require.Equal(t, http.StatusBadRequest, r.Status)
	})
	t.Run("Release", func(t *testing.T) {
		before := dec(t, b.balance(c, ext)["available"])
		r := b.reserve(c, ext, "call-4", 1000, 1000)
		id := r.JSON(t)["id"].(string)
		r = c.do(http.MethodPost, "/v1/reservations/"+id+"/release", nil)
		require.Equal(t, http.StatusOK, r.Status)
		require.True(t, dec(t, r.JSON(t)["released"]).Equal(decimal.NewFromInt(10)))
		require.True(t, dec(t, r.JSON(t)["available"]).Equal(before))
	})
	t.Run("InsufficientCredits", func(t *testing.T) {
		r := b.reserve(c, ext, "call-big", 5000, 10000) // 90 credits, 88.5 available
		require.Equal(t, http.StatusPaymentRequired, r.Status)
		require.Equal(t, "insufficient_credits", r.Code(t))
	})
	t.Run("UnknownModel", func(t *testing.T) {
		r := c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "gpt-17",
			"max_input_tokens": 1, "max_output_tokens": 1, "idempotency_key": "m"})
		require.Equal(t, http.StatusBadRequest, r.Status)
		require.Equal(t, "unknown_model", r.Code(t))
	})
	t.Run("MissingFields", func(t *testing.T) {
		r := c.doInvalid(http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "deepseek-chat"})
		require.Equal(t, http.StatusBadRequest, r.Status)
		require.Equal(t, "invalid_request", r.Code(t))
	})
	t.Run("Frozen", func(t *testing.T) {
		a, err := b.ledger.AccountByExternalID(context.Background(), ledger.ModeLive, ext)
		require.NoError(t, err)
		require.NoError(t, b.ledger.SetStatus(context.Background(), a.ID, ledger.StatusFrozen, "staff", "test"))
		r := b.reserve(c, ext, "call-frozen", 10, 10)
		require.Equal(t, http.StatusForbidden, r.Status)
		require.Equal(t, "account_frozen", r.Code(t))
	})
}

// TestLedgerWriterMetrics: /metrics counts the ledger writers' operations
// and transactions, whose quotient is the mean batch.
func TestLedgerWriterMetrics(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	ext := b.account(b.live, uniq(t, "m"), map[string]any{"verification": map[string]any{"status": "verified", "reference": "r"}})
	b.grant(b.live, ext, "100", "g")
	require.Equal(t, http.StatusCreated, b.reserve(b.live, ext, "m-1", 1000, 1000).Status)
	before := b.ledger.Stats()
	require.GreaterOrEqual(t, before.Operations, int64(2), "the grant and the reservation")
	require.LessOrEqual(t, before.Transactions, before.Operations)

	m := webtest.NewClient(t, b.app.URL).Get("/metrics")
	require.Equal(t, http.StatusOK, m.Status)
	require.Contains(t, m.Body, fmt.Sprintf("credits_ledger_operations_total %d\n", before.Operations))
	require.Contains(t, m.Body, fmt.Sprintf("credits_ledger_transactions_total %d\n", before.Transactions))
}

func TestAPIRateLimitAnswers429WithRetryAfter(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ext := b.account(c, uniq(t, "a"), map[string]any{"rpm": 2,
		"verification": map[string]any{"status": "verified", "reference": "r"}})
	b.grant(c, ext, "100", "g")
	for i := range 2 {
		r := b.reserve(c, ext, fmt.Sprint("k", i), 10, 10)
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	}
	r := b.reserve(c, ext, "k3", 10, 10)
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	require.Equal(t, "rate_limited", r.Code(t))
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.InDelta(t, 30, secs, 1, "2 per minute: one request refills in 30 s")
	other := b.account(c, uniq(t, "b"), map[string]any{"rpm": 2})
	b.grant(c, other, "100", "g")
	require.Equal(t, http.StatusCreated, b.reserve(c, other, "k", 10, 10).Status, "limits are per account")
}

func TestAPIVerificationGate(t *testing.T) {
	b := setupAPI(t, apiOpts{config: func(c *config.Config) { c.Gateway.TrialCap = decimal.NewFromInt(50) }})
	c := b.live
	ctx := context.Background()

	t.Run("PaidCreditNeedsVerification", func(t *testing.T) {
		ext := b.account(c, uniq(t, "paid"), nil)
		a, err := b.ledger.AccountByExternalID(ctx, ledger.ModeLive, ext)
		require.NoError(t, err)
		_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: a.ID, Kind: ledger.LotPaid,
			Amount: decimal.NewFromInt(100), IdempotencyKey: "topup"})
		require.NoError(t, err)
		r := b.reserve(c, ext, "k", 1000, 1000)
		require.Equal(t, http.StatusForbidden, r.Status)
		require.Equal(t, "verification_required", r.Code(t))

		c.do(http.MethodPut, "/v1/accounts/"+ext, map[string]any{"verification": map[string]any{"status": "verified", "reference": "id-1"}})
		r = b.reserve(c, ext, "k", 1000, 1000)
		require.Equal(t, http.StatusCreated, r.Status, "verified: paid credit spends")
	})
	t.Run("TrialCap", func(t *testing.T) {
		ext := b.account(c, uniq(t, "trial"), nil)
		b.grant(c, ext, "100", "g")
		r := b.reserve(c, ext, "k1", 5000, 0) // 10 credits
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
		id := r.JSON(t)["id"].(string)
		r = c.do(http.MethodPost, "/v1/reservations/"+id+"/commit", map[string]any{"input_tokens": 20000})
		require.True(t, dec(t, r.JSON(t)["charged"]).Equal(decimal.NewFromInt(40)))
		r = b.reserve(c, ext, "k2", 5000, 0) // 40 used + 10 = 50: at the cap
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
		r = b.reserve(c, ext, "k3", 500, 0) // 1 more: past it
		require.Equal(t, http.StatusForbidden, r.Status)
		require.Equal(t, "verification_required", r.Code(t))
		r = c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{{"idempotency_key": "u",
			"account": ext, "model": "deepseek-chat", "input_tokens": 1000, "occurred_at": time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)}}})
		require.Equal(t, "verification_required", r.JSON(t)["rejected"].([]any)[0].(map[string]any)["code"])
	})
}

func TestAPIUsageBatchMixedEvents(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ext := b.account(c, uniq(t, "a"), map[string]any{"verification": map[string]any{"status": "verified", "reference": "r"}})
	b.grant(c, ext, "100", "g")
	now := time.Now().Add(time.Second).UTC() // just after the rate card took effect
	ev := func(key, model string, at time.Time) map[string]any {
		return map[string]any{"idempotency_key": key, "account": ext, "model": model, "input_tokens": 1000,
			"output_tokens": 1000, "occurred_at": at.Format(time.RFC3339Nano), "session_id": "agent-7"}
	}
	unknownAcct := ev("e6", "deepseek-chat", now)
	unknownAcct["account"] = uniq(t, "ghost")
	batch := []map[string]any{
		ev("e1", "deepseek-chat", now), // good: 10 credits
		ev("e2", "deepseek-chat", now.Add(-8*24*time.Hour)),
		ev("e3", "deepseek-chat", now.Add(10*time.Minute)),
		ev("e4", "gpt-17", now),
		ev("e5", "qwen-plus", now), // good: 0.8 + 2 = 2.8
		unknownAcct,
		ev("e1", "deepseek-chat", now), // duplicate within the batch
	}
	r := c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": batch})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	got := r.JSON(t)
	require.EqualValues(t, 2, got["accepted"], "%v", got)
	require.EqualValues(t, 1, got["duplicates"])
	codes := map[float64]string{}
	for _, x := range got["rejected"].([]any) {
		rj := x.(map[string]any)
		codes[rj["index"].(float64)] = rj["code"].(string)
		require.NotEmpty(t, rj["message"])
	}
	require.Equal(t, map[float64]string{1: "event_too_old", 2: "event_in_future", 3: "unknown_model", 5: "unknown_account"}, codes)
	require.True(t, dec(t, b.balance(c, ext)["available"]).Equal(decimal.RequireFromString("87.2")))

	t.Run("ResentBatchIsAllDuplicates", func(t *testing.T) {
		r := c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{batch[0], batch[4]}})
		require.EqualValues(t, 0, r.JSON(t)["accepted"])
		require.EqualValues(t, 2, r.JSON(t)["duplicates"])
		require.True(t, dec(t, b.balance(c, ext)["available"]).Equal(decimal.RequireFromString("87.2")))
	})
	t.Run("SameKeyOtherEventConflicts", func(t *testing.T) {
		r := c.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{ev("e1", "qwen-plus", now)}})
		rj := r.JSON(t)["rejected"].([]any)
		require.Len(t, rj, 1)
		require.Equal(t, "idempotency_conflict", rj[0].(map[string]any)["code"])
	})
	t.Run("TooManyEvents", func(t *testing.T) {
		many := make([]map[string]any, 501)
		for i := range many {
			many[i] = ev(fmt.Sprint("m", i), "deepseek-chat", now)
		}
		r := c.doInvalid(http.MethodPost, "/v1/usage/events", map[string]any{"events": many})
		require.Equal(t, http.StatusBadRequest, r.Status)
	})
	t.Run("SessionIsRecorded", func(t *testing.T) {
		r := c.do(http.MethodGet, "/v1/accounts/"+ext+"/ledger", nil)
		n := 0
		for _, e := range r.JSON(t)["events"].([]any) {
			if e.(map[string]any)["session_id"] == "agent-7" {
				n++
			}
		}
		require.GreaterOrEqual(t, n, 2)
	})
}

func TestAPIExpiredReservationPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy    ledger.ExpiredReservationPolicy
		event     string
		available string
	}{
		{ledger.ExpiredRelease, "reservation_release", "100"},
		{ledger.ExpiredCharge, "reservation_expired_charge", "90"},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			b := setupAPI(t, apiOpts{config: func(c *config.Config) {
				c.Gateway.ExpiredPolicy, c.Gateway.ReservationTTL = tc.policy, time.Minute
			}})
			c := b.live
			ext := b.account(c, uniq(t, "a"), map[string]any{"verification": map[string]any{"status": "verified", "reference": "r"}})
			b.grant(c, ext, "100", "g")
			r := b.reserve(c, ext, "k", 1000, 1000) // 10 credits
			require.Equal(t, http.StatusCreated, r.Status)
			b.clock.Advance(2 * time.Minute)
			n, err := b.ledger.SweepReservations(context.Background(), 100)
			require.NoError(t, err)
			require.GreaterOrEqual(t, n, 1)
			bal := b.balance(c, ext)
			require.True(t, dec(t, bal["available"]).Equal(decimal.RequireFromString(tc.available)), "%v", bal)
			require.True(t, dec(t, bal["reserved"]).IsZero())
			r = c.do(http.MethodGet, "/v1/accounts/"+ext+"/ledger?limit=1", nil)
			require.Equal(t, tc.event, r.JSON(t)["events"].([]any)[0].(map[string]any)["type"], "the ledger says which")
		})
	}
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	r := b.anon.do(http.MethodGet, "/api/openapi.yaml", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Contains(t, string(r.Body), "openapi: 3.1.0")
	router := openAPIRouter(t)
	n := 0
	for _, rt := range b.app.Server.Echo.Routes() {
		if !web.IsAPI(rt.Path) || rt.Method == "echo_route_not_found" {
			continue
		}
		path := rt.Path
		for _, p := range []string{"external_id", "session_id", "id"} {
			path = strings.ReplaceAll(path, ":"+p, "x"+p)
		}
		req, _ := http.NewRequest(rt.Method, b.app.URL+path, nil)
		_, _, err := router.FindRoute(req)
		require.NoError(t, err, "route %s %s is missing from web/openapi.yaml", rt.Method, rt.Path)
		n++
	}
	require.Equal(t, 18, n)
}
