package web

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/format"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminAnalyticsRoutes: the operator dashboard, its charts' data and each
// chart's CSV (finance and admins).
func (s *Server) adminAnalyticsRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/analytics", "admin.analytics", s.AdminAnalytics, auth.RoleFinance, auth.RoleAdmin)
	s.adminRoute(g, http.MethodGet, "/analytics.json", "admin.analytics.json", s.AdminAnalyticsJSON, auth.RoleFinance, auth.RoleAdmin)
	s.adminRoute(g, http.MethodGet, "/analytics.csv", "admin.analytics.csv", s.AdminAnalyticsCSV, auth.RoleFinance, auth.RoleAdmin)
}

// analyticsQuery reads the dashboard's dates and granularity (as the
// revenue report's) and the conversion window in days (7 by default).
func analyticsQuery(c echo.Context) (adminview.AnalyticsForm, backoffice.AnalyticsQuery, adminview.Errors) {
	rf, from, to, g, errs := reportQuery(c)
	f := adminview.AnalyticsForm{ReportForm: rf, Within: strings.TrimSpace(format.NormalizeDigits(c.QueryParam("within")))}
	if f.Within == "" {
		f.Within = "7"
	}
	n, err := strconv.Atoi(f.Within)
	if err != nil || n < 1 || n > backoffice.MaxConversionDays {
		errs["within"] = tr(c, "analytics.invalid_within")
	}
	return f, backoffice.AnalyticsQuery{From: from, To: to, Granularity: g, Within: n}, errs
}

// AdminAnalytics shows the dashboard's form and one chart per figure; the
// charts draw from /admin/analytics.json (static/analytics.js).
func (s *Server) AdminAnalytics(c echo.Context) error {
	f, aq, errs := analyticsQuery(c)
	v := adminview.AnalyticsView{Frame: adminFrame(c, "admin.analytics"), Form: f, Errors: errs}
	if len(errs) > 0 {
		return Render(c, http.StatusUnprocessableEntity, adminview.Analytics(v), nil)
	}
	d, err := s.admin.bo.Analytics(c.Request().Context(), aq, actor(c))
	if err != nil {
		return err
	}
	q := url.Values{"from": {f.From}, "to": {f.To}, "granularity": {f.Granularity}, "within": {f.Within}}
	v.DataURL = s.URL("admin.analytics.json") + "?" + q.Encode()
	if !d.RefreshedAt.IsZero() {
		v.RefreshedAt = format.Time(d.RefreshedAt)
	}
	for _, name := range backoffice.Charts {
		q.Set("chart", name)
		v.Charts = append(v.Charts, adminview.AnalyticsChart{Name: name, CSVURL: s.URL("admin.analytics.csv") + "?" + q.Encode()})
	}
	return Render(c, http.StatusOK, adminview.Analytics(v), nil)
}

// AnalyticsJSON is every chart's data for static/analytics.js: labels, and
// per series its name in the user's language and its values as decimal
// strings (yuan, or a count).
type AnalyticsJSON struct {
	Charts map[string]AnalyticsChartJSON `json:"charts"`
}

// AnalyticsChartJSON is one chart of AnalyticsJSON.
type AnalyticsChartJSON struct {
	Kind   string                `json:"kind"`
	Labels []string              `json:"labels"`
	Series []AnalyticsSeriesJSON `json:"series"`
}

// AnalyticsSeriesJSON is one series of a chart.
type AnalyticsSeriesJSON struct {
	Key  string   `json:"key"`
	Name string   `json:"name"`
	Data []string `json:"data"`
}

// AdminAnalyticsJSON answers the dashboard's chart data.
func (s *Server) AdminAnalyticsJSON(c echo.Context) error {
	_, aq, errs := analyticsQuery(c)
	if len(errs) > 0 {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	d, err := s.admin.bo.Analytics(c.Request().Context(), aq, actor(c))
	if err != nil {
		return err
	}
	out := AnalyticsJSON{Charts: map[string]AnalyticsChartJSON{}}
	for name, ch := range d.Charts {
		cj := AnalyticsChartJSON{Kind: ch.Kind, Labels: append([]string{}, ch.Labels...)}
		for _, se := range ch.Series {
			sj := AnalyticsSeriesJSON{Key: se.Key, Name: se.Name, Data: []string{}}
			if sj.Name == "" {
				sj.Name = tr(c, "analytics.series."+se.Key)
			}
			for _, x := range se.Values {
				sj.Data = append(sj.Data, x.String())
			}
			cj.Series = append(cj.Series, sj)
		}
		out.Charts[name] = cj
	}
	return c.JSON(http.StatusOK, out)
}

// AdminAnalyticsCSV downloads one chart's data as CSV.
func (s *Server) AdminAnalyticsCSV(c echo.Context) error {
	f, aq, errs := analyticsQuery(c)
	name := c.QueryParam("chart")
	if len(errs) > 0 || !slices.Contains(backoffice.Charts, name) {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	d, err := s.admin.bo.Analytics(c.Request().Context(), aq, actor(c))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := backoffice.ChartCSV(&buf, d.Charts[name]); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition,
		fmt.Sprintf(`attachment; filename="analytics-%s-%s-%s-%s.csv"`, name, f.Granularity, f.From, f.To))
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}
