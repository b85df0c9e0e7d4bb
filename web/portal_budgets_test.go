package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/web/webtest"
)

// An individual sets its monthly budget: bad input names every field at
// once in the customer's language and keeps what was typed; a good one is
// listed with its use, audited, and removable (audited too).
func TestBudgetFormIndividual(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, u := b.register(t, uniqEmail("budget-form"), "")
	p := c.Get("/portal/budgets")
	require.Equal(t, http.StatusOK, p.Status)
	require.NotEmpty(t, p.TestID("budgets-empty"))
	require.Equal(t, 0, p.Doc.Find(`[data-testid="budget-account"]`).Length(), "an individual sets its own account's budget")

	bad := url.Values{"amount": {"很多"}, "unit": {"usd"}, "thresholds": {"0, 50"}, "hard_stop": {"yes"}}
	p = c.PostForm("/portal/budgets", bad)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "请输入大于 0 的金额，最多 6 位小数。", p.TestID("error-amount"))
	require.Equal(t, "请选择点数或元。", p.TestID("error-unit"))
	require.Contains(t, p.TestID("error-thresholds"), "1 到 1000")
	require.Equal(t, "很多", p.Doc.Find(`[data-testid="budget-amount"]`).AttrOr("value", ""), "what was typed is kept")

	c.Get("/lang/en")
	p = c.PostForm("/portal/budgets", url.Values{"amount": {"12.345"}, "unit": {"yuan"}, "thresholds": {"x"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "Enter an amount above 0 with at most 2 decimals.", p.TestID("error-amount"))
	require.Equal(t, "Enter whole percents from 1 to 1000, separated by commas (at most 10).", p.TestID("error-thresholds"))

	p = c.PostForm("/portal/budgets", url.Values{"amount": {"１２.５"}, "unit": {"yuan"}, "thresholds": {"５０，８０"}, "hard_stop": {"yes"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotEmpty(t, p.TestID("flash-success"))
	row := p.Doc.Find(`[data-testid="budget-row"]`)
	require.Equal(t, 1, row.Length())
	require.Contains(t, row.Text(), "12,500", "¥12.5 at ¥0.001 a credit")
	require.Contains(t, row.Text(), "Monthly")
	require.Contains(t, row.Text(), "50% 80%")
	require.NotEmpty(t, p.TestID("budget-hard"))
	bs, err := b.ledger.Budgets(context.Background(), u.AccountID)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	require.Equal(t, ledger.BudgetMonth, bs[0].Period)
	require.True(t, decimal.NewFromInt(12500).Equal(bs[0].Cap))

	var n int
	require.NoError(t, b.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM admin_audit_log
		WHERE action = 'budget_set' AND actor_kind = 'customer' AND account_id = $1 AND detail->>'amount' = '12.5'`, u.AccountID).Scan(&n))
	require.Equal(t, 1, n, "the change is audited")

	del, _ := row.Find("form").Attr("action")
	p = c.PostForm(del, url.Values{})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotEmpty(t, p.TestID("budgets-empty"))
	require.NoError(t, b.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM admin_audit_log
		WHERE action = 'budget_deleted' AND account_id = $1`, u.AccountID).Scan(&n))
	require.Equal(t, 1, n)
}

// An enterprise owner sets budgets for a sub-account's project and key; it
// may not name another enterprise's account; spend by project and key is
// listed, charted and exported.
func TestBudgetsEnterpriseScopesAndSpend(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	ctx := context.Background()
	c, u := b.register(t, uniqEmail("budget-ent"), "Corp")
	ent := b.enterprise(t, u.ID, "Corp")
	sub, err := b.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: ent, Name: "研发部"})
	require.NoError(t, err)
	_, other := b.register(t, uniqEmail("budget-other"), "")
	_, err = b.ledger.Credit(ctx, ledger.CreditRequest{AccountID: ent, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(50000), IdempotencyKey: "t"})
	require.NoError(t, err)
	b.verified(t, ent)
	for i, l := range []struct{ project, key, amount string }{{"search", "alice", "30"}, {"search", "bob", "12"}, {"chat", "", "5"}} {
		_, err := b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: sub.ID, Amount: decimal.RequireFromString(l.amount),
			IdempotencyKey: "c" + string(rune('a'+i)), Model: "m", Project: l.project, Key: l.key})
		require.NoError(t, err)
	}

	c.Get("/lang/en")
	p := c.Get("/portal/budgets")
	require.Equal(t, http.StatusOK, p.Status)
	opts := p.Doc.Find(`[data-testid="budget-account"] option`)
	require.Equal(t, 2, opts.Length(), "the enterprise and its sub-account")
	spend := p.Doc.Find(`[data-testid="spend-row"]`)
	require.Equal(t, 3, spend.Length())
	require.Equal(t, "search", spend.First().AttrOr("data-project", ""))
	require.Equal(t, "alice", spend.First().AttrOr("data-key", ""), "most spent first")

	chart := c.Get("/portal/budgets/spend.json")
	require.Equal(t, http.StatusOK, chart.Status)
	require.Contains(t, chart.Body, `"labels":["#`)
	require.Contains(t, chart.Body, `search / alice`)

	csvPage := c.Get(p.Doc.Find(`[data-testid="spend-csv"]`).AttrOr("href", ""))
	require.Equal(t, http.StatusOK, csvPage.Status)
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(csvPage.Body, "\uFEFF"))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"Account ID", "Project", "Key", "Calls", "Charged credits", "Unpaid credits"}, recs[0])
	require.Len(t, recs, 4)
	require.Equal(t, []string{"search", "alice", "1", "30.000000"}, recs[1][1:5])

	form := url.Values{"account": {strconv.FormatInt(sub.ID, 10)}, "project": {"search"}, "key": {"alice"}, "period": {"day"},
		"amount": {"40"}, "unit": {"credits"}, "thresholds": {"50, 100"}, "hard_stop": {"yes"}}
	p = c.PostForm("/portal/budgets", form)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	row := p.Doc.Find(`[data-testid="budget-row"]`)
	require.Equal(t, 1, row.Length())
	require.Contains(t, row.Text(), "研发部")
	require.Equal(t, "75%", strings.TrimSpace(row.Find(`[data-testid="budget-percent"]`).Text()), "30 of 40 spent today")

	// another customer's account is refused on the account field, with the other fields' errors
	form.Set("account", strconv.FormatInt(other.AccountID, 10))
	form.Set("period", "year")
	p = c.PostForm("/portal/budgets", form)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "Choose daily, weekly, monthly or no reset.", p.TestID("error-period"))
	form.Set("period", "day")
	p = c.PostForm("/portal/budgets", form)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "Choose one of your accounts.", p.TestID("error-account"))
	bs, err := b.ledger.Budgets(ctx, other.AccountID)
	require.NoError(t, err)
	require.Empty(t, bs)
}

// In Chromium at 390 px, in Chinese and in English, an enterprise owner
// (arrived by the API's portal link) sets a daily hard-stop budget on a
// sub-account's project key in the portal; the API then holds that key's
// calls until the budget is used up and refuses the next with 402
// budget_exceeded, while the page shows the budget full.
func TestBudgetSetInThePortalStopsTheAPIInChromium(t *testing.T) {
	// Not parallel: one Chromium at a time on a small machine.
	b := setupAPI(t, apiOpts{})
	c := b.live
	ent := b.account(c, uniq(t, "ent"), map[string]any{"kind": "enterprise", "verification": verified})
	b.grant(c, ent, "100000", "g")
	put := c.do(http.MethodPut, "/v1/accounts/"+uniq(t, "dept"), map[string]any{"kind": "sub", "parent": ent, "verification": verified})
	require.Equal(t, http.StatusCreated, put.Status, string(put.Body))
	subExt, subID := put.JSON(t)["external_id"].(string), int64(put.JSON(t)["id"].(float64))
	link := c.do(http.MethodPost, "/v1/accounts/"+ent+"/portal-sessions", nil)
	require.Equal(t, http.StatusCreated, link.Status, string(link.Body))

	ctx := webtest.Browser(t, 90*time.Second)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(link.JSON(t)["url"].(string)),
		chromedp.WaitVisible(css(`[data-testid="signout"]`))))
	for i, lang := range []struct{ code, key, saved string }{{"zh-CN", "zhang", "预算已保存"}, {"en", "smith", "The budget is saved"}} {
		reserve := func(n int) apiResp {
			return c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": subExt, "model": "deepseek-chat",
				"max_input_tokens": 1000, "max_output_tokens": 1000, "idempotency_key": lang.key + strconv.Itoa(n),
				"project": "search", "key": lang.key})
		}
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang.code),
			chromedp.Navigate(b.app.URL+"/portal/budgets"),
			chromedp.WaitVisible(css(`[data-testid="budget-form"]`)),
			chromedp.SetValue(css(`[data-testid="budget-account"]`), strconv.FormatInt(subID, 10)),
			chromedp.SendKeys(css(`#f-project`), "search"),
			chromedp.SendKeys(css(`#f-key`), lang.key),
			chromedp.SetValue(css(`[data-testid="budget-period"]`), "day"),
			chromedp.SendKeys(css(`#f-amount`), "25"),
			chromedp.Click(css(`[data-testid="budget-submit"]`)),
			chromedp.WaitVisible(css(`[data-testid="flash-success"]`)),
		))
		require.Contains(t, webtest.Text(t, ctx, `[data-testid="flash-success"]`), lang.saved)
		require.Equal(t, i+1, countNodes(t, ctx, `[data-testid="budget-row"]`))
		webtest.RequireFitsWidth(t, ctx, 390, "the budgets page (%s)", lang.code)

		first := reserve(1)
		require.Equal(t, http.StatusCreated, first.Status, string(first.Body))
		require.Equal(t, "10", first.JSON(t)["reserved"], "a hold of 10 credits")
		require.Equal(t, http.StatusCreated, reserve(2).Status)
		over := reserve(3)
		require.Equal(t, http.StatusPaymentRequired, over.Status, "20 held + 10 > 25: %s", over.Body)
		require.Equal(t, "budget_exceeded", over.Code(t))
		require.NotEmpty(t, over.JSON(t)["error"].(map[string]any)["retry_at"])

		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.app.URL+"/portal/budgets"),
			chromedp.WaitVisible(css(`[data-testid="budget-row"][data-key="`+lang.key+`"]`))))
		require.Equal(t, "80%", webtest.Text(t, ctx, `[data-testid="budget-row"][data-key="`+lang.key+`"] [data-testid="budget-percent"]`))
		webtest.RequireFitsWidth(t, ctx, 390, "the budgets page with a budget (%s)", lang.code)
	}
}

func countNodes(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
	require.NoError(t, err)
	return n
}
