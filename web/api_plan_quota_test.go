package web_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/usage"
)

var quotaPlanSeq atomic.Int64

// quotaPlan publishes a plan of its own covering deepseek-chat with
// `requests` calls per rolling 5 hours and 2,000 tokens per Shanghai day,
// comps it to the account ext and sets its billing preference.
func (b *apiBundle) quotaPlan(ext string, requests int64, pref plans.Preference) (plans.Plan, int64) {
	return b.quotaPlanRPM(ext, requests, pref, 0)
}

// quotaPlanRPM is quotaPlan with the plan's requests per minute (0: the
// platform's default).
func (b *apiBundle) quotaPlanRPM(ext string, requests int64, pref plans.Preference, rpm int) (plans.Plan, int64) {
	t := b.t
	t.Helper()
	ctx := context.Background()
	svc := b.app.Services
	spec := plans.DemoSpecs()[1]
	spec.Code = fmt.Sprintf("q%d", quotaPlanSeq.Add(1))
	spec.RPM, spec.TPM = rpm, 0
	spec.MonthlyCredits = decimal.Zero // credits here are the wallet's: what pays is then plain
	spec.Items = []plans.Item{{Models: []string{"deepseek-chat"}, Quotas: []plans.Quota{
		{Unit: plans.Requests, Window: plans.Rolling(5), Limit: requests},
		{Unit: plans.Tokens, Window: plans.Day, Limit: 2_000},
	}}}
	d, err := svc.Plans.CreateDraft(ctx, spec, "ops@example.com")
	require.NoError(t, err)
	p, err := svc.Plans.Publish(ctx, d.ID, "ops@example.com")
	require.NoError(t, err)
	acct, err := b.ledger.AccountByExternalID(ctx, ledger.ModeLive, ext)
	require.NoError(t, err)
	_, _, err = svc.Subscriptions.Comp(ctx, plans.CompRequest{AccountID: acct.ID, PlanCode: p.Code, Months: 1, Actor: "test"})
	require.NoError(t, err)
	require.NoError(t, svc.Quotas.SetPreference(ctx, acct.ID, pref, "test"))
	svc.Quotas.Forget(acct.ID)
	return p, acct.ID
}

func paidBy(t *testing.T, r apiResp) map[string]any {
	t.Helper()
	pb, ok := r.JSON(t)["paid_by"].(map[string]any)
	require.True(t, ok, "no paid_by: %s", r.Body)
	return pb
}

// TestAPIPlanQuotaPaysCoveredCalls: a covered model's call holds quota and
// says so; its commit settles the tokens, and tokens beyond the day's room
// are charged as credits at the card's rate; past the request quota the
// call falls to credits (plan_first), which the answer says too.
func TestAPIPlanQuotaPaysCoveredCalls(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	ext := b.account(b.live, uniq(t, "a"), nil)
	b.grant(b.live, ext, "100", uniq(t, "g"))
	b.quotaPlan(ext, 2, plans.PlanFirst)

	r := b.reserve(b.live, ext, uniq(t, "r1"), 1000, 500)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	require.Equal(t, "0", r.JSON(t)["reserved"])
	q := paidBy(t, r)["quota"].(map[string]any)
	require.Equal(t, "deepseek-chat", q["item"])
	require.EqualValues(t, 1500, q["tokens"])

	// 2,500 tokens used against a hold of 1,500 and a day of 2,000: the
	// room (500) is taken and the last 500 (output) tokens are charged as
	// credits at the card's rate.
	c := b.live.do(http.MethodPost, "/v1/reservations/"+r.JSON(t)["id"].(string)+"/commit",
		map[string]any{"input_tokens": 1000, "output_tokens": 1500})
	require.Equal(t, http.StatusOK, c.Status, string(c.Body))
	cq := paidBy(t, c)["quota"].(map[string]any)
	require.EqualValues(t, 2000, cq["tokens"])
	require.NotEqual(t, "0", c.JSON(t)["charged"], "the excess tokens cost credits")
	require.Equal(t, c.JSON(t)["charged"], paidBy(t, c)["wallet"])

	r2 := b.reserve(b.live, ext, uniq(t, "r2"), 10, 10)
	require.Equal(t, http.StatusCreated, r2.Status)
	require.NotContains(t, paidBy(t, r2), "quota", "the day's tokens are used up: credits pay")
	require.NotEqual(t, "0", r2.JSON(t)["reserved"])
	require.NotEqual(t, "0", paidBy(t, r2)["wallet"])

	// A retry of the first key is the first call, paid by quota.
	again := b.reserve(b.live, ext, uniq(t, "r1"), 1000, 500)
	require.Equal(t, http.StatusCreated, again.Status)
	require.Equal(t, r.JSON(t)["id"], again.JSON(t)["id"])
}

// TestQuotaCallsShowInUsage: a call paid by quota is written once (its use)
// and the usage pages read it from there: listed as a quota call with its
// tokens, counted in the summary's calls and tokens, its model offered,
// the version moved, and paged through with the charges without repeats.
func TestQuotaCallsShowInUsage(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	ctx := context.Background()
	ext := b.account(b.live, uniq(t, "a"), nil)
	b.grant(b.live, ext, "100", uniq(t, "g"))
	_, id := b.quotaPlan(ext, 3, plans.PlanFirst)
	store := b.app.Services.Usage
	sc := usage.Scope{PoolID: id}
	before, err := store.Version(ctx, id)
	require.NoError(t, err)
	for i := range 5 { // three paid by quota, two by credits
		r := b.reserve(b.live, ext, uniq(t, fmt.Sprintf("r%d", i)), 10, 10)
		require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
		c := b.live.do(http.MethodPost, "/v1/reservations/"+r.JSON(t)["id"].(string)+"/commit",
			map[string]any{"input_tokens": 7, "output_tokens": 5})
		require.Equal(t, http.StatusOK, c.Status, string(c.Body))
	}
	var n int
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT count(*) FROM gateway_free_calls WHERE account_id = $1`, id).Scan(&n))
	require.Zero(t, n, "no second record of a quota call")

	var all []usage.Charge
	cur := usage.Cursor{}
	for {
		page, next, err := store.List(ctx, sc, usage.Filter{}, cur, 2)
		require.NoError(t, err)
		all = append(all, page...)
		if next.IsZero() {
			break
		}
		cur = next
	}
	require.Len(t, all, 5, "every call once, across pages")
	quota := 0
	for _, c := range all {
		if c.Quota {
			quota++
			require.Greater(t, c.FreeCallID, int64(1)<<62, "a use's id, offset")
			require.EqualValues(t, 7, c.Detail.InputTokens)
			require.EqualValues(t, 5, c.Detail.OutputTokens)
			require.Equal(t, "deepseek-chat", c.Model)
		}
	}
	require.Equal(t, 3, quota)
	sum, err := store.Summarize(ctx, sc, usage.Filter{})
	require.NoError(t, err)
	require.EqualValues(t, 2, sum.Totals.Charges, "two charges; the quota calls charge nothing")
	require.EqualValues(t, 35, sum.Totals.InputTokens, "the tokens of all five calls")
	require.EqualValues(t, 5, sum.Totals.Requests)
	models, err := store.Models(ctx, sc)
	require.NoError(t, err)
	require.Contains(t, models, "deepseek-chat")
	after, err := store.Version(ctx, id)
	require.NoError(t, err)
	require.Greater(t, after, before)
}

// TestAPIPlanOnlyRefusesWithRetryAt: plan_only refuses a call past the
// quota with 429 plan_quota_exhausted, retry_at and Retry-After; a release
// gives the quota back.
func TestAPIPlanOnlyRefusesWithRetryAt(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	ext := b.account(b.live, uniq(t, "a"), nil)
	b.grant(b.live, ext, "100", uniq(t, "g"))
	b.quotaPlan(ext, 1, plans.PlanOnly)

	r := b.reserve(b.live, ext, uniq(t, "r1"), 10, 10)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	refused := b.reserve(b.live, ext, uniq(t, "r2"), 10, 10)
	require.Equal(t, http.StatusTooManyRequests, refused.Status, string(refused.Body))
	require.Equal(t, "plan_quota_exhausted", refused.Code(t))
	retryAt, err := time.Parse(time.RFC3339Nano, refused.JSON(t)["error"].(map[string]any)["retry_at"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, b.clock.Now().Add(5*time.Hour), retryAt, time.Minute, "the rolling window frees 5 h after the first call")
	require.NotEmpty(t, refused.Header.Get("Retry-After"))

	rel := b.live.do(http.MethodPost, "/v1/reservations/"+r.JSON(t)["id"].(string)+"/release", nil)
	require.Equal(t, http.StatusOK, rel.Status, string(rel.Body))
	require.Equal(t, http.StatusCreated, b.reserve(b.live, ext, uniq(t, "r3"), 10, 10).Status)
}

// TestAPIPlanOnlyInShadowMode: with the account in shadow mode a
// plan-only call past its quota is not refused but held from credits, and
// the answer and the shadow record name the refusal it would have been;
// in off mode it is held from credits and nothing is recorded.
func TestAPIPlanOnlyInShadowMode(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	ctx := context.Background()
	ext := b.account(b.live, uniq(t, "a"), nil)
	b.grant(b.live, ext, "100", uniq(t, "g"))
	_, id := b.quotaPlan(ext, 1, plans.PlanOnly)
	setMode := func(m ledger.Enforcement) {
		t.Helper()
		require.NoError(t, pgx.BeginFunc(ctx, b.app.Pool, func(tx pgx.Tx) error { return b.ledger.SetEnforcementTx(ctx, tx, id, &m) }))
		b.app.Services.Gateway.Forget(id)
	}

	first := b.reserve(b.live, ext, uniq(t, "r1"), 10, 10)
	require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
	require.NotContains(t, first.JSON(t), "shadow_refusal", "quota paid it: nothing was let through")

	setMode(ledger.EnforceShadow)
	through := b.reserve(b.live, ext, uniq(t, "r2"), 10, 10)
	require.Equal(t, http.StatusCreated, through.Status, string(through.Body))
	require.Equal(t, "plan_quota_exhausted", through.JSON(t)["shadow_refusal"])
	require.NotContains(t, paidBy(t, through), "quota")
	require.NotEqual(t, "0", through.JSON(t)["reserved"], "credits hold it")
	n, rows, err := b.ledger.ShadowRefusals(ctx, id, 10)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Equal(t, "plan_quota_exhausted", rows[0].Code)

	setMode(ledger.EnforceOff)
	off := b.reserve(b.live, ext, uniq(t, "r3"), 10, 10)
	require.Equal(t, http.StatusCreated, off.Status, string(off.Body))
	require.NotContains(t, off.JSON(t), "shadow_refusal")
	n, _, err = b.ledger.ShadowRefusals(ctx, id, 10)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "off records nothing as refused")

	setMode(ledger.EnforceAll)
	refused := b.reserve(b.live, ext, uniq(t, "r4"), 10, 10)
	require.Equal(t, http.StatusTooManyRequests, refused.Status, string(refused.Body))
	require.Equal(t, "plan_quota_exhausted", refused.Code(t))
}

// TestAPIWalletFirstUsesQuotaWhenCreditsRunOut: wallet_first pays by
// credits while they cover the hold, then by quota.
func TestAPIWalletFirstUsesQuotaWhenCreditsRunOut(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	ext := b.account(b.live, uniq(t, "a"), nil)
	b.grant(b.live, ext, "1", uniq(t, "g"))
	b.quotaPlan(ext, 5, plans.WalletFirst)

	first := b.reserve(b.live, ext, uniq(t, "small"), 10, 10)
	require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
	require.NotContains(t, paidBy(t, first), "quota", "credits first")
	big := b.reserve(b.live, ext, uniq(t, "big"), 1000, 900)
	require.Equal(t, http.StatusCreated, big.Status, string(big.Body))
	require.Contains(t, paidBy(t, big), "quota", "the credits do not cover it: quota")
	retry := b.reserve(b.live, ext, uniq(t, "big"), 1000, 900)
	require.Equal(t, big.JSON(t)["id"], retry.JSON(t)["id"], "a retry is paid the way the first was")
}

// TestAPIPlanQuotaHoldsUnder64ConcurrentCalls: 64 concurrent reserves of a
// plan_only account with a quota of 10 requests: exactly 10 are accepted.
func TestAPIPlanQuotaHoldsUnder64ConcurrentCalls(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	ext := b.account(b.live, uniq(t, "a"), map[string]any{"verification": verified})
	b.quotaPlanRPM(ext, 10, plans.PlanOnly, 1000)

	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := b.reserve(b.live, ext, uniq(t, fmt.Sprint("c", i)), 1, 1)
			switch {
			case r.Status == http.StatusCreated:
				ok.Add(1)
			case r.Status == http.StatusTooManyRequests && r.Code(t) == "plan_quota_exhausted":
				refused.Add(1)
			default:
				t.Errorf("unexpected %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 10, ok.Load())
	require.EqualValues(t, 54, refused.Load())
}

// TestAPIPlanSetsTheSubscribersRateLimit: a plan's RPM is its subscriber's
// rate limit.
func TestAPIPlanSetsTheSubscribersRateLimit(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	ext := b.account(b.live, uniq(t, "a"), map[string]any{"verification": verified})
	b.quotaPlanRPM(ext, 100, plans.PlanOnly, 3)
	view := b.live.do(http.MethodPut, "/v1/accounts/"+ext, map[string]any{})
	require.EqualValues(t, 3, view.JSON(t)["rpm"], "the plan's RPM is the account's")
	for i := range 3 {
		require.Equal(t, http.StatusCreated, b.reserve(b.live, ext, uniq(t, fmt.Sprint("r", i)), 1, 1).Status)
	}
	r := b.reserve(b.live, ext, uniq(t, "r3"), 1, 1)
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	require.Equal(t, "rate_limited", r.Code(t))
}

// TestAPIPlanQuotaExcessRecordsCost: the credits charged for tokens beyond a
// plan's quota record the cost card and the upstream cost of those same
// tokens (the last 500 output tokens of deepseek-chat on the demo cost card:
// 500 × ¥0.0048 / 1k = ¥0.0024).
func TestAPIPlanQuotaExcessRecordsCost(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	ctx := context.Background()
	_, err := b.app.Services.Costs.EnsureDemo(ctx, "test")
	require.NoError(t, err)
	card, err := b.app.Services.Costs.InForce(ctx, time.Now())
	require.NoError(t, err)
	line, ok := card.Line("deepseek-chat")
	require.True(t, ok)
	want := line.OutputPer1K.Mul(decimal.NewFromInt(500)).Shift(-3).StringFixed(6)

	ext := uniq(t, "a")
	b.account(b.live, ext, nil)
	b.grant(b.live, ext, "100", uniq(t, "g"))
	_, acct := b.quotaPlan(ext, 2, plans.PlanFirst)
	r := b.reserve(b.live, ext, uniq(t, "r1"), 1000, 500)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	c := b.live.do(http.MethodPost, "/v1/reservations/"+r.JSON(t)["id"].(string)+"/commit",
		map[string]any{"input_tokens": 1000, "output_tokens": 1500})
	require.Equal(t, http.StatusOK, c.Status, string(c.Body))
	require.Equal(t, "4", c.JSON(t)["charged"], "500 output tokens at 8 credits per 1k")

	var detail struct {
		CostVersion int    `json:"cost_version"`
		Cost        string `json:"cost"`
	}
	require.NoError(t, b.app.Pool.QueryRow(ctx, `SELECT detail FROM ledger_events
WHERE account_id = $1 AND type = 'deduction' ORDER BY id DESC LIMIT 1`, acct).Scan(&detail))
	require.Equal(t, card.Version, detail.CostVersion)
	require.Equal(t, want, detail.Cost)
}
