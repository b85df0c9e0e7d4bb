package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/csvexport"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/usage"
	pv "github.com/seed75218f88/credits/views/portal"
)

// UsagePageSize is how many charges the usage page shows per "load more".
const UsagePageSize = 50

// DefaultUsageDays is the usage page's default date range, ending today.
const DefaultUsageDays = 30

func tr(c echo.Context, key string) string { return i18n.T(c.Request().Context(), key) }

// usageQuery is the usage filter as the customer sent it, checked against
// what the signed-in account may see.
type usageQuery struct {
	scope  usage.Scope
	filter usage.Filter
	form   pv.UsageFilter
}

// parseUsageQuery reads from, to (inclusive Asia/Shanghai dates), model,
// account (an enterprise's sub-account) and session. A sub-account that is
// not the signed-in enterprise's is not found (404), whatever it is; dates
// reaching into the archived months are gone (410, usage.ErrArchived).
func (s *Server) parseUsageQuery(c echo.Context) (usageQuery, error) {
	cu := customerOf(c)
	q := usageQuery{scope: cu.scope()}
	today := usage.Day(time.Now())
	from, to := today.AddDate(0, 0, -(DefaultUsageDays-1)), today
	if v := c.QueryParam("from"); v != "" {
		t, ok := shanghaiDate(v)
		if !ok {
			return q, echo.ErrBadRequest
		}
		from = t
	}
	if v := c.QueryParam("to"); v != "" {
		t, ok := shanghaiDate(v)
		if !ok {
			return q, echo.ErrBadRequest
		}
		to = t
	}
	if to.Before(from) {
		from, to = to, from
	}
	q.filter = usage.Filter{From: from, To: to.AddDate(0, 0, 1), Model: c.QueryParam("model"), SessionID: c.QueryParam("session")}
	if err := s.portal.usage.CheckDates(c.Request().Context(), q.filter); err != nil {
		return q, err
	}
	q.form = pv.UsageFilter{From: format.Date(from), To: format.Date(to), Model: q.filter.Model, Session: q.filter.SessionID}
	if cu.Access.Limited() {
		// A limited member reads one of its sub-accounts: the first unless
		// it picks another.
		q.scope.AccountID, q.form.Account = cu.Access.Limit[0], cu.Access.Limit[0]
	}
	if v := c.QueryParam("account"); v != "" {
		id, err := parseID(v)
		if err != nil {
			return q, err
		}
		if !cu.sees(id) {
			return q, echo.ErrNotFound
		}
		if id != cu.Account.ID {
			if cu.Account.Kind != ledger.AccountEnterprise {
				return q, echo.ErrNotFound
			}
			if _, err := s.portal.usage.SubAccount(c.Request().Context(), cu.Account.ID, id, time.Time{}); err != nil {
				return q, err
			}
			q.scope.AccountID = id
			q.form.Account = id
		}
	}
	return q, nil
}

// query is the filter as URL parameters, for links that keep it.
func (q usageQuery) query() url.Values {
	v := url.Values{"from": {q.form.From}, "to": {q.form.To}}
	if q.form.Model != "" {
		v.Set("model", q.form.Model)
	}
	if q.form.Account != 0 {
		v.Set("account", strconv.FormatInt(q.form.Account, 10))
	}
	if q.form.Session != "" {
		v.Set("session", q.form.Session)
	}
	return v
}

// Usage shows the usage history with its filter, totals, chart and the first
// page of charges.
func (s *Server) Usage(c echo.Context) error {
	ctx := c.Request().Context()
	q, err := s.parseUsageQuery(c)
	if err != nil {
		return err
	}
	cu := customerOf(c)
	// The usage version, not Head: a free model's call changes the page
	// without a ledger event.
	head, err := s.portal.usage.Version(ctx, q.scope.PoolID)
	if err != nil {
		return err
	}
	sum, err := s.summary(c, q, head)
	if err != nil {
		return err
	}
	// The model filter offers the account's models; a member limited to
	// some sub-accounts is offered those of the one it reads.
	modelScope := cu.scope()
	if cu.Access.Limited() {
		modelScope = q.scope
	}
	models, err := s.portal.views.models.load(ctx, modelScope, head, func(ctx context.Context) ([]string, time.Time, error) {
		m, err := s.portal.usage.Models(ctx, modelScope)
		return m, time.Time{}, err
	})
	if err != nil {
		return err
	}
	rows, err := s.portal.views.firstRows.load(ctx, keyOf(q), head, func(ctx context.Context) (pv.UsageRows, time.Time, error) {
		r, err := s.usageRows(ctx, q, usage.Cursor{})
		return r, time.Time{}, err
	})
	if err != nil {
		return err
	}
	params := q.query().Encode()
	v := pv.UsageView{
		Frame:    s.frame(c, "portal.usage"),
		Filter:   q.form,
		Models:   models,
		Totals:   sum.Totals,
		TotalRMB: ledger.RMBForCredits(sum.Totals.Charged, s.portal.price),
		ChartURL: s.URL("portal.usage.chart") + "?" + params,
		CSVURL:   s.URL("portal.usage.csv") + "?" + params,
		Rows:     rows,
	}
	if cu.Account.Kind == ledger.AccountEnterprise {
		subs, err := s.portal.usage.SubAccounts(ctx, cu.Account.ID, time.Time{})
		if err != nil {
			return err
		}
		for _, a := range subs {
			if cu.sees(a.ID) {
				v.SubAccounts = append(v.SubAccounts, pv.Option{Value: strconv.FormatInt(a.ID, 10), Label: a.Name})
			}
		}
	}
	// The 50 rows are most of the page's rendering: keep them rendered per
	// language while the pool's head is unchanged.
	html, err := s.portal.views.rowsHTML.load(ctx, rowsKey{keyOf(q), i18n.Lang(ctx)}, head, func(ctx context.Context) (string, time.Time, error) {
		var b strings.Builder
		err := pv.UsageRowsPart(rows).Render(ctx, &b)
		return b.String(), time.Time{}, err
	})
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, pv.UsageWithRows(v, templ.Raw(html)), nil)
}

// usageRows is one page of charges (free models' calls included) and the
// "load more" link after it.
func (s *Server) usageRows(ctx context.Context, q usageQuery, cursor usage.Cursor) (pv.UsageRows, error) {
	charges, next, err := s.portal.usage.List(ctx, q.scope, q.filter, cursor, UsagePageSize)
	if err != nil {
		return pv.UsageRows{}, err
	}
	out := pv.UsageRows{Charges: make([]pv.ChargeRow, 0, len(charges))}
	for _, ch := range charges {
		r := pv.ChargeRow{OpID: ch.OpID, AccountID: ch.AccountID, At: ch.OccurredAt, Model: ch.Model, SessionID: ch.SessionID,
			Project: ch.Project, Key: ch.Key,
			RequestID: ch.RequestID, Charged: ch.Charged, Unpaid: ch.Unpaid, InputTokens: ch.Detail.InputTokens,
			OutputTokens: ch.Detail.OutputTokens, CacheHitTokens: ch.Detail.CacheHitTokens, RateCard: ch.RateCard(),
			Outcome: ch.Detail.Outcome, Quota: ch.Quota}
		for _, p := range ch.Parts {
			r.Parts = append(r.Parts, pv.PartRow{Kind: p.Kind, Amount: p.Amount})
		}
		out.Charges = append(out.Charges, r)
	}
	if !next.IsZero() {
		v := q.query()
		v.Set("cursor", next.String())
		out.MoreURL = s.URL("portal.usage.rows") + "?" + v.Encode()
	}
	return out, nil
}

// UsageRows answers the "load more" button with the next page of charges.
func (s *Server) UsageRows(c echo.Context) error {
	q, err := s.parseUsageQuery(c)
	if err != nil {
		return err
	}
	cursor, err := usage.ParseCursor(c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	rows, err := s.usageRows(c.Request().Context(), q, cursor)
	if err != nil {
		return err
	}
	return RenderComponent(c, http.StatusOK, pv.UsageRowsPart(rows))
}

// ChartData is the daily spend by model that static/portal.js draws.
type ChartData struct {
	Days   []string      `json:"days"`
	Series []ChartSeries `json:"series"`
	// Total is the charged credits of the whole range.
	Total string `json:"total"`
}

// ChartSeries is one model's credits per day (aligned with Days).
type ChartSeries struct {
	Model string        `json:"model"`
	Data  []json.Number `json:"data"`
}

// UsageChart answers the chart's JSON for the same filter as the page.
func (s *Server) UsageChart(c echo.Context) error {
	q, err := s.parseUsageQuery(c)
	if err != nil {
		return err
	}
	head, err := s.portal.usage.Version(c.Request().Context(), q.scope.PoolID)
	if err != nil {
		return err
	}
	sum, err := s.summary(c, q, head)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, chartData(q.filter, sum))
}

// summary is the filter's daily spend by model and totals, reused while the
// pool's usage version (usage.Store.Version) is unchanged.
func (s *Server) summary(c echo.Context, q usageQuery, head int64) (usage.Summary, error) {
	return s.portal.views.summaries.load(c.Request().Context(), keyOf(q), head, func(ctx context.Context) (usage.Summary, time.Time, error) {
		sum, err := s.portal.usage.Summarize(ctx, q.scope, q.filter)
		return sum, time.Time{}, err
	})
}

func chartData(f usage.Filter, sum usage.Summary) ChartData {
	cd := ChartData{Total: format.DecimalString(sum.Totals.Charged), Days: []string{}, Series: []ChartSeries{}}
	index := map[string]int{}
	for d := f.From; d.Before(f.To); d = d.AddDate(0, 0, 1) {
		index[format.Date(d)] = len(cd.Days)
		cd.Days = append(cd.Days, format.Date(d))
	}
	byModel := map[string]int{}
	for _, dm := range sum.Days {
		i, ok := byModel[dm.Model]
		if !ok {
			i = len(cd.Series)
			byModel[dm.Model] = i
			data := make([]json.Number, len(cd.Days))
			for j := range data {
				data[j] = "0"
			}
			cd.Series = append(cd.Series, ChartSeries{Model: dm.Model, Data: data})
		}
		if j, ok := index[dm.Day]; ok {
			cd.Series[i].Data[j] = json.Number(format.DecimalString(dm.Charged))
		}
	}
	return cd
}

// UsageCSV exports exactly the filtered charges as CSV, UTF-8 with a byte
// order mark so that Excel reads the Chinese headers right. A free model's
// call is a row of zero credits with no operation id and no bucket.
func (s *Server) UsageCSV(c echo.Context) error {
	q, err := s.parseUsageQuery(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	name := "usage-" + q.form.From + "-" + q.form.To + ".csv"
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	// Check the filter can be read before the 200 goes out.
	if _, _, err := s.portal.usage.List(ctx, q.scope, q.filter, usage.Cursor{}, 1); err != nil {
		return err
	}
	c.Response().WriteHeader(http.StatusOK)
	w := c.Response().Writer
	if _, err := w.Write([]byte("\uFEFF")); err != nil {
		return nil
	}
	cw := csvexport.NewWriter(w)
	header := []string{}
	for _, k := range csvColumns {
		header = append(header, tr(c, "csv.usage."+k))
	}
	_ = cw.Write(header)
	err = s.portal.usage.Export(ctx, q.scope, q.filter, func(ch usage.Charge) error {
		return cw.Write(csvRow(ch, s.portal.price))
	})
	cw.Flush()
	if err != nil {
		s.Logger.Warn("usage export stopped", "error", err.Error())
	}
	return nil
}

// csvColumns are the export's columns (header keys csv.usage.<column>).
var csvColumns = []string{"time", "op_id", "account_id", "model", "session_id", "request_id",
	"input_tokens", "output_tokens", "cache_hit_tokens", "requests", "rate_card_version", "outcome",
	"charged", "unpaid", "paid_by", "cost_rmb", "project", "key"}

func csvRow(ch usage.Charge, price decimal.Decimal) []string {
	var parts []string
	for _, p := range ch.Parts {
		parts = append(parts, p.Kind+" "+p.Amount.String())
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	op := i(ch.OpID)
	if ch.FreeCallID != 0 {
		op = ""
	}
	return []string{
		ch.OccurredAt.In(format.Shanghai).Format("2006-01-02 15:04:05"),
		op, i(ch.AccountID), ch.Model, ch.SessionID, ch.RequestID,
		i(ch.Detail.InputTokens), i(ch.Detail.OutputTokens), i(ch.Detail.CacheHitTokens), i(ch.Detail.Requests),
		ch.RateCard(), ch.Detail.Outcome,
		ch.Charged.StringFixed(6), ch.Unpaid.StringFixed(6), paidByText(ch, parts),
		ledger.RMBForCredits(ch.Charged, price).StringFixed(2),
		ch.Project, ch.Key,
	}
}

// paidByText is the CSV's paid_by: the buckets a charge was paid from, or
// "quota" for a call the plan's quota paid.
func paidByText(ch usage.Charge, parts []string) string {
	if ch.Quota {
		return "quota"
	}
	return strings.Join(parts, "; ")
}
