package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/web/webtest"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// The transactions export holds every event across the ledger's pages,
// newest first, with headers and labels in the customer's language.
func TestTransactionsCSVExportsEveryEvent(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, u := b.register(t, "tx-export@example.com", "")
	const calls = 1005 // more than one page of the ledger's listing
	for i := range calls {
		b.charge(t, u.AccountID, fmt.Sprintf("tx-export-%d", i), "deepseek-chat", "s", "1", 10, 10)
	}
	p := c.Get("/portal/transactions")
	_, ok := p.Doc.Find(`[data-testid="export-transactions-csv"]`).Attr("href")
	require.True(t, ok, "the page offers the export")

	res := c.Get("/portal/transactions.csv")
	require.Equal(t, http.StatusOK, res.Status)
	require.True(t, strings.HasPrefix(res.Body, "\uFEFF"), "a byte order mark for Excel")
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(res.Body, "\uFEFF"))).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 1+calls+2, "header, every charge, the sign-up grant and the trial ending (verified)")
	require.Equal(t, "记账时间", recs[0][0])
	require.Equal(t, "扣费", recs[1][2])
	require.Equal(t, "-1", recs[1][3])
	require.Equal(t, fmt.Sprint(5000-calls), recs[1][4], "newest first: the balance after the last charge")
	require.Equal(t, "赠送余额", recs[1][5])
	last := recs[len(recs)-1]
	require.Equal(t, "赠送", last[2])
	require.Equal(t, "5000", last[4])

	c.Header.Set("Accept-Language", "en")
	defer c.Header.Del("Accept-Language")
	res = c.Get("/portal/transactions.csv")
	recs, err = csv.NewReader(strings.NewReader(strings.TrimPrefix(res.Body, "\uFEFF"))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, "Recorded at", recs[0][0])
	require.Equal(t, "Bonus balance", recs[1][5])
}

// TestListsSayWhichTimeTheySortBy: the transactions list is in the order
// the ledger recorded events and shows when a late call was made; the usage
// list is in the order calls were made.
func TestListsSayWhichTimeTheySortBy(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, u := b.register(t, "time-order@example.com", "")
	b.verified(t, u.AccountID)
	ctx := context.Background()
	now := time.Now()
	for i, ago := range []time.Duration{10 * time.Minute, 5 * time.Hour, 20 * time.Second} {
		_, err := b.ledger.Charge(ctx, ledger.ChargeRequest{AccountID: u.AccountID, Amount: decimal.NewFromInt(int64(i + 1)),
			IdempotencyKey: fmt.Sprint("order-", i), Model: "deepseek-chat", OccurredAt: now.Add(-ago)})
		require.NoError(t, err)
	}

	p := c.Get("/portal/transactions")
	require.NotEmpty(t, p.TestID("transactions-order"))
	rows := p.Doc.Find(`[data-testid="transactions"] [data-testid="event-row"][data-type="deduction"]`)
	require.Equal(t, 3, rows.Length())
	require.Contains(t, rows.Eq(0).Find(".num").First().Text(), "-3", "newest recorded first")
	require.Equal(t, 1, rows.Eq(1).Find(`[data-testid="event-occurred"]`).Length(), "the late call shows when it was made")
	require.Zero(t, rows.Eq(0).Find(`[data-testid="event-occurred"]`).Length())

	p = c.Get("/portal/usage")
	require.NotEmpty(t, p.TestID("usage-order"))
	var amounts []string
	p.Doc.Find(`[data-testid="charge-row"] [data-testid="charge-amount"]`).Each(func(_ int, s *goquery.Selection) {
		amounts = append(amounts, strings.Fields(s.Text())[0])
	})
	require.Equal(t, []string{"3", "1", "2"}, amounts, "newest call first: 20 s, 10 min, 5 h ago")

	c.Get("/lang/en")
	p = c.Get("/portal/transactions")
	require.Contains(t, p.TestID("transactions-order"), "recorded")
}

// TestBalanceOnADateSaysWhatIsWrongWithTheDate: "balance on date" with a
// day that does not exist (2026-02-30) or a day to come is refused on the
// date field, with the page and its list, in the customer's language and
// on a 390 px phone; today and a past day answer. Before, a non-date was a
// bare 400 error page and a day to come (9999-12-31) was answered with
// today's balance as if it were known.
func TestBalanceOnADateSaysWhatIsWrongWithTheDate(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c, u := b.register(t, "tx-balance-on@example.com", "")
	b.charge(t, u.AccountID, "tx-balance-on-1", "deepseek-chat", "s", "1", 10, 10)
	sh, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Now().In(sh)
	today, tomorrow := now.Format("2006-01-02"), now.AddDate(0, 0, 1).Format("2006-01-02")

	for _, lang := range []struct{ code, invalid, future string }{
		{"zh-CN", "请选择一个日期", "请选择今天（" + today + "）或以前的日期"},
		{"en", "Choose a date", "Choose today (" + today + ") or an earlier day"},
	} {
		c.Header.Set("Accept-Language", lang.code)
		for _, tc := range []struct{ date, want string }{{"2026-02-30", lang.invalid}, {"abc", lang.invalid}, {tomorrow, lang.future}, {"9999-12-31", lang.future}} {
			p := c.Get("/portal/transactions?date=" + tc.date)
			require.Equal(t, http.StatusUnprocessableEntity, p.Status, "%s %s", lang.code, tc.date)
			require.Contains(t, p.TestID("error-date"), tc.want, "%s %s", lang.code, tc.date)
			require.Empty(t, p.TestID("balance-at"), "no balance is claimed for %s", tc.date)
			require.NotZero(t, p.Doc.Find(`table[data-testid="transactions"]`).Length(), "the list is still shown")
		}
		p := c.Get("/portal/transactions?date=" + today)
		require.Equal(t, http.StatusOK, p.Status)
		require.NotEmpty(t, p.TestID("balance-at"))
		require.Empty(t, p.TestID("error-date"))
		c.Header.Del("Accept-Language")
	}

	bctx := webtest.Browser(t, 120*time.Second)
	webtest.SignIn(t, bctx, b.app.URL, "tx-balance-on@example.com", "correct horse 1")
	for _, lang := range []string{"zh-CN", "en"} {
		require.NoError(t, chromedp.Do(bctx,
			chromedp.Navigate(b.app.URL+"/lang/"+lang),
			chromedp.Navigate(b.app.URL+"/portal/transactions?date=9999-12-31"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-date"]`)),
		))
		require.Contains(t, webtest.Text(t, bctx, `[data-testid="error-date"]`), today)
		webtest.RequireFitsWidth(t, bctx, 390, "the refused date (%s)", lang)
		webtest.Screenshot(t, bctx, "portal-balance-on-future-390-"+lang)
	}
}
