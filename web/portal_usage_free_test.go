package web_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/web"
	"github.com/seed75218f88/credits/web/webtest"
)

// portalOf signs a new browser client into the portal of the API account
// ext through a one-time portal link.
func (b *apiBundle) portalOf(t *testing.T, ext string) *webtest.Client {
	t.Helper()
	r := b.live.do(http.MethodPost, "/v1/accounts/"+ext+"/portal-sessions", nil)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	u, err := url.Parse(r.JSON(t)["url"].(string))
	require.NoError(t, err)
	c := webtest.NewClient(t, b.app.URL)
	require.Equal(t, http.StatusOK, c.Get(u.Path).Status)
	return c
}

// usageEvent sends one usage event (occurred now) and requires it accepted.
func (b *apiBundle) usageEvent(t *testing.T, ext, key, model, session string, in, out int) {
	t.Helper()
	ev := map[string]any{"idempotency_key": key, "account": ext, "model": model, "input_tokens": in, "output_tokens": out,
		"occurred_at": time.Now().UTC().Format(time.RFC3339Nano)}
	if session != "" {
		ev["session_id"] = session
	}
	r := b.live.do(http.MethodPost, "/v1/usage/events", map[string]any{"events": []map[string]any{ev}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.EqualValues(t, 1, r.JSON(t)["accepted"], string(r.Body))
}

func usageRowsOf(p *webtest.Page) *goquery.Selection { return p.Doc.Find(`[data-testid="charge-row"]`) }

// TestPortalShowsFreeModelCalls: the calls of a free model (glm-4-flash on
// the default rate card), recorded by the gateway outside the ledger, are
// rows of the customer's usage history at zero credits with their tokens,
// rate card, request and session, in the model filter, the totals' calls
// and tokens, the chart and the CSV export; a free call recorded while the
// usage page is cached shows on the next load (also the commit of a free
// reservation opened before); and nothing of another account's free calls
// ever shows.
func TestPortalShowsFreeModelCalls(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	c := b.live
	ext := b.account(c, uniq(t, "a"), map[string]any{"verification": verified})
	b.grant(c, ext, "1000", "g")
	other := b.account(c, uniq(t, "b"), map[string]any{"verification": verified})
	b.grant(c, other, "1000", "g")
	card := c.do(http.MethodGet, "/v1/rate-card", nil).JSON(t)
	version := fmt.Sprint(card["version"])

	// A charged call and a free one; B's free call comes last (the newest).
	b.usageEvent(t, ext, "paid-1", "deepseek-chat", "agent-1", 1000, 0) // 2 credits
	b.usageEvent(t, ext, "free-1", "glm-4-flash", "agent-1", 300, 50)
	b.usageEvent(t, other, "b-secret-key", "glm-4-flash", "b-secret-session", 777777, 1)
	pa := b.portalOf(t, ext)
	pb := b.portalOf(t, other)

	p := pa.Get("/portal/usage")
	require.Equal(t, http.StatusOK, p.Status)
	rows := usageRowsOf(p)
	require.Equal(t, 2, rows.Length(), p.Body)
	free := rows.First()
	require.Equal(t, "true", free.AttrOr("data-free", ""), "the free call is the newest row")
	require.Equal(t, "glm-4-flash", free.AttrOr("data-model", ""))
	require.Equal(t, "0", strings.TrimSpace(free.Find(`[data-testid="charge-amount"]`).Text()))
	require.Contains(t, free.Find(`[data-testid="charge-parts"]`).Text(), "—")
	require.Equal(t, "免费模型，不扣点数", free.Find(`[data-testid="charge-free"]`).Text())
	detail := free.Find(`.detail`).Text()
	for _, s := range []string{"输入 300", "输出 50", "价目表版本 " + version, "free-1", "agent-1"} {
		require.Contains(t, detail, s)
	}
	require.Equal(t, "2", p.TestID("total-charged"))
	require.Equal(t, "2", p.TestID("total-requests"), "two calls")
	require.Equal(t, "1", p.TestID("total-charges"), "one charge")
	require.Contains(t, p.TestID("total-tokens"), "输入 1,300")
	var options []string
	p.Doc.Find(`[data-testid="filter-model"] option`).Each(func(_ int, s *goquery.Selection) { options = append(options, s.AttrOr("value", "")) })
	require.Equal(t, []string{"", "deepseek-chat", "glm-4-flash"}, options)

	p = pa.Get("/portal/usage?model=glm-4-flash")
	require.Equal(t, 1, usageRowsOf(p).Length())
	require.Equal(t, "0", p.TestID("total-charged"))
	require.Equal(t, "1", p.TestID("total-requests"))
	require.Equal(t, "0", p.TestID("total-charges"))
	require.Equal(t, 0, usageRowsOf(pa.Get("/portal/usage?session=agent-2")).Length(), "another session has none")
	require.Equal(t, 2, usageRowsOf(pa.Get("/portal/usage?session=agent-1")).Length())
	yesterday := time.Now().In(time.FixedZone("CST", 8*3600)).AddDate(0, 0, -1).Format("2006-01-02")
	require.Equal(t, 0, usageRowsOf(pa.Get("/portal/usage?from="+yesterday+"&to="+yesterday)).Length(), "a range without calls")

	var chart web.ChartData
	res := pa.Get("/portal/usage/chart.json")
	require.NoError(t, json.Unmarshal([]byte(res.Body), &chart))
	require.Equal(t, "2", chart.Total)
	require.Len(t, chart.Series, 2, "the free model is a series of zeros")

	res = pa.Get("/portal/usage.csv")
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(res.Body, "\uFEFF"))).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 3, "header, the free call, the charge")
	f := recs[1]
	require.Equal(t, "glm-4-flash", f[3])
	require.Equal(t, "", f[1], "no ledger operation")
	require.Equal(t, []string{"agent-1", "free-1", "300", "50", "0", "1", version, "completed", "0.000000", "0.000000", "", "0.00", "", ""}, f[4:], "no project or key")
	require.Equal(t, "deepseek-chat", recs[2][3])

	// Cached pages follow free calls: the commit of a free reservation
	// opened before the page was cached, then a new free usage event.
	r := c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "glm-4-flash",
		"max_input_tokens": 4000, "max_output_tokens": 4000, "idempotency_key": "stream-1", "session_id": "agent-1"})
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	id := r.JSON(t)["id"].(string)
	for range 2 {
		p = pa.Get("/portal/usage")
		require.Equal(t, 2, usageRowsOf(p).Length(), "an open reservation is not a call")
		pa.Get("/portal/usage/chart.json")
	}
	r = c.do(http.MethodPost, "/v1/reservations/"+id+"/commit", map[string]any{"input_tokens": 4000, "output_tokens": 10})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	p = pa.Get("/portal/usage")
	require.Equal(t, 3, usageRowsOf(p).Length(), "the committed call shows at once")
	require.Equal(t, "3", p.TestID("total-requests"))
	require.Contains(t, p.TestID("total-tokens"), "输入 5,300")
	b.usageEvent(t, ext, "free-2", "glm-4-flash", "", 5, 5)
	p = pa.Get("/portal/usage?model=glm-4-flash")
	require.Equal(t, 3, usageRowsOf(p).Length())
	require.Equal(t, "3", p.TestID("total-requests"))
	p = pa.Get("/portal/usage")
	require.Equal(t, 4, usageRowsOf(p).Length())
	require.Contains(t, usageRowsOf(p).First().Find(`.detail`).Text(), "free-2")

	// B sees its own free call; A sees nothing of it, whatever it asks.
	p = pb.Get("/portal/usage")
	require.Equal(t, 1, usageRowsOf(p).Length())
	require.Contains(t, p.Body, "b-secret-session")
	secrets := []string{"b-secret-key", "b-secret-session", "777777", "777,777"}
	for _, path := range []string{"/portal/usage", "/portal/usage?model=glm-4-flash", "/portal/usage/chart.json",
		"/portal/usage.csv", "/portal/usage/rows?cursor=0.0.0.0", "/portal/usage/rows?cursor=-1.0.0.0"} {
		res := pa.Get(path)
		require.Equal(t, http.StatusOK, res.Status, path)
		for _, s := range secrets {
			require.NotContains(t, res.Body, s, "A's %s shows B's %q", path, s)
		}
	}
	// B's session as A's filter (the page echoes the filter): nothing.
	p = pa.Get("/portal/usage?session=b-secret-session")
	require.Equal(t, 0, usageRowsOf(p).Length())
	require.Equal(t, "0", p.TestID("total-requests"))
	require.NotContains(t, p.Body, "777")
	res = pa.Get("/portal/usage.csv?session=b-secret-session")
	recs, err = csv.NewReader(strings.NewReader(strings.TrimPrefix(res.Body, "\uFEFF"))).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 1, "the header only")
	res = pa.Get("/portal/usage/chart.json?session=b-secret-session")
	require.NoError(t, json.Unmarshal([]byte(res.Body), &chart))
	require.Empty(t, chart.Series)
	require.Equal(t, http.StatusBadRequest, pa.Get("/portal/usage/rows?cursor=12").Status, "a malformed cursor")
}

// TestUsageLoadMoreMergesFreeCalls: "load more" pages through charges and
// free calls together, each row once, newest first.
func TestUsageLoadMoreMergesFreeCalls(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, apiOpts{})
	ext := b.account(b.live, uniq(t, "a"), map[string]any{"verification": verified})
	b.grant(b.live, ext, "10000", "g")
	n := web.UsagePageSize + 5
	for i := range n {
		model := "deepseek-chat"
		if i%2 == 1 {
			model = "glm-4-flash"
		}
		b.usageEvent(t, ext, fmt.Sprintf("k%03d", i), model, "", 10, 10)
	}
	c := b.portalOf(t, ext)
	p := c.Get("/portal/usage")
	keys := []string{}
	collect := func(s *goquery.Selection) {
		s.Each(func(_ int, r *goquery.Selection) {
			keys = append(keys, r.Find(`.detail code`).First().Text())
		})
	}
	collect(usageRowsOf(p))
	require.Len(t, keys, web.UsagePageSize)
	more, ok := p.Doc.Find(`[data-testid="load-more"]`).Attr("hx-get")
	require.True(t, ok)
	p = c.HTMX(http.MethodGet, more, nil)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader("<table>" + p.Body + "</table>"))
	require.NoError(t, err)
	collect(doc.Find(`[data-testid="charge-row"]`))
	require.Equal(t, 0, doc.Find(`[data-testid="load-more"]`).Length())
	require.Len(t, keys, n)
	for i, k := range keys {
		require.Equal(t, fmt.Sprintf("k%03d", n-1-i), k, "row %d", i)
	}
}
