package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/budget"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/csvexport"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/usage"
	pv "github.com/seed75218f88/credits/views/portal"
)

// portalBudgetRoutes: the budgets page, its form, deletes, and the spend
// by project and key as chart data and CSV.
func (s *Server) portalBudgetRoutes(g *echo.Group) {
	named(g.GET("/budgets", s.Budgets), "portal.budgets")
	named(g.POST("/budgets", s.SaveBudget), "portal.budgets.save")
	named(g.POST("/budgets/:id/delete", s.DeleteBudget), "portal.budgets.delete")
	named(g.GET("/budgets/spend.json", s.BudgetSpendChart), "portal.budgets.spend")
	named(g.GET("/budgets/spend.csv", s.BudgetSpendCSV), "portal.budgets.spend.csv")
}

// Budgets shows the customer's budgets with this period's use, the form
// that sets one, and spend by project and key.
func (s *Server) Budgets(c echo.Context) error {
	v, err := s.budgetsView(c)
	if err != nil {
		return err
	}
	v.Saved, v.Deleted = c.QueryParam("saved") == "1", c.QueryParam("deleted") == "1"
	return Render(c, http.StatusOK, pv.Budgets(v), nil)
}

// SaveBudget sets a budget: an enterprise owner for itself, a sub-account,
// a project or a key; an individual its monthly budget. Every field in
// error is shown at once in the customer's language (422), with what was
// typed kept; the change is audited by budget.Service.Set.
func (s *Server) SaveBudget(c echo.Context) error {
	cu := customerOf(c)
	if cu.Account.Kind == ledger.AccountSub {
		return echo.ErrForbidden
	}
	form := pv.BudgetForm{Account: c.FormValue("account"), Project: c.FormValue("project"), Key: c.FormValue("key"),
		Period: c.FormValue("period"), Amount: c.FormValue("amount"), Unit: c.FormValue("unit"),
		Thresholds: c.FormValue("thresholds"), HardStop: c.FormValue("hard_stop") == "yes"}
	in := budget.Input{Project: form.Project, Key: form.Key, Period: form.Period, Amount: format.NormalizeDigits(form.Amount),
		Unit: form.Unit, Thresholds: format.NormalizeDigits(form.Thresholds), HardStop: form.HardStop}
	target := cu.Account.ID
	if cu.Account.Kind == ledger.AccountEnterprise && form.Account != "" {
		id, err := strconv.ParseInt(form.Account, 10, 64)
		if err != nil {
			id = 0
		}
		target = id
		if !cu.sees(target) {
			return echo.ErrNotFound
		}
	} else {
		in.Project, in.Key, in.Period = "", "", string(ledger.BudgetMonth) // an individual's monthly budget
	}
	spec, err := budget.Parse(in, target)
	if err == nil {
		_, err = s.budgets.Set(c.Request().Context(), budget.Actor{Kind: backoffice.ActorCustomer, UserID: cu.User.ID,
			Email: cu.User.Login(), IP: ClientIP(c)}, cu.Account, spec)
	}
	if err == nil {
		return HXRedirect(c, s.URL("portal.budgets")+"?saved=1")
	}
	errs := map[string]string{}
	if fe, ok := fielderr.As(err); ok {
		errs = fieldMessages(c, fe)
	} else if err == budget.ErrNotFound {
		errs["account"] = tr(c, "error.field.budget_account")
	} else {
		return err
	}
	if target <= 0 {
		errs["account"] = tr(c, "error.field.budget_account")
	}
	v, verr := s.budgetsView(c)
	if verr != nil {
		return verr
	}
	form.Errors = errs
	v.Form = form
	return Render(c, http.StatusUnprocessableEntity, pv.Budgets(v), nil)
}

// DeleteBudget removes one of the customer's budgets (audited).
func (s *Server) DeleteBudget(c echo.Context) error {
	cu := customerOf(c)
	if cu.Account.Kind == ledger.AccountSub {
		return echo.ErrForbidden
	}
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if cu.Access.Limited() { // only a budget of its sub-accounts
		bs, err := s.budgets.List(c.Request().Context(), cu.Account)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(bs, func(b ledger.Budget) bool { return b.ID == id && cu.sees(b.AccountID) }) {
			return echo.ErrNotFound
		}
	}
	err = s.budgets.Delete(c.Request().Context(), budget.Actor{Kind: backoffice.ActorCustomer, UserID: cu.User.ID,
		Email: cu.User.Login(), IP: ClientIP(c)}, cu.Account, id)
	if err == budget.ErrNotFound {
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	return HXRedirect(c, s.URL("portal.budgets")+"?deleted=1")
}

// budgetsView is the page for the signed-in customer with an empty form.
func (s *Server) budgetsView(c echo.Context) (pv.BudgetsView, error) {
	cu := customerOf(c)
	ctx := c.Request().Context()
	v := pv.BudgetsView{Frame: s.frame(c, "portal.budgets"), CanEdit: cu.Account.Kind != ledger.AccountSub,
		Scopes: cu.Account.Kind == ledger.AccountEnterprise,
		Form:   pv.BudgetForm{Period: string(ledger.BudgetMonth), Unit: string(ledger.BudgetCredits), Thresholds: "50, 80, 100", HardStop: true}}
	names := map[int64]string{cu.Account.ID: accountLabel(cu.Account.Name, cu.Account.ID)}
	if v.Scopes {
		if cu.sees(cu.Account.ID) {
			v.Accounts = append(v.Accounts, pv.Option{Value: strconv.FormatInt(cu.Account.ID, 10), Label: names[cu.Account.ID]})
		}
		subs, err := s.portal.usage.SubAccounts(ctx, cu.Account.ID, monthStart())
		if err != nil {
			return v, err
		}
		for _, a := range subs {
			if !cu.sees(a.ID) {
				continue
			}
			names[a.ID] = accountLabel(a.Name, a.ID)
			v.Accounts = append(v.Accounts, pv.Option{Value: strconv.FormatInt(a.ID, 10), Label: names[a.ID]})
		}
		if len(v.Accounts) > 0 {
			v.Form.Account = v.Accounts[0].Value
		}
	}
	bs, err := s.budgets.List(ctx, cu.Account)
	if err != nil {
		return v, err
	}
	for _, b := range bs {
		if !cu.sees(b.AccountID) {
			continue
		}
		v.Budgets = append(v.Budgets, budgetRow(b, names[b.AccountID], s.URL("portal.budgets.delete", b.ID)))
	}
	q, err := budgetSpendQuery(c)
	if err != nil {
		return v, err
	}
	v.Spend = pv.SpendView{From: format.Date(q.from), To: format.Date(q.to.AddDate(0, 0, -1)),
		ChartURL: s.URL("portal.budgets.spend") + "?" + q.values().Encode(),
		CSVURL:   s.URL("portal.budgets.spend.csv") + "?" + q.values().Encode()}
	rows, err := s.portal.usage.SpendByLabel(ctx, cu.scope(), q.from, q.to)
	if err != nil {
		return v, err
	}
	for _, r := range rows {
		if !cu.sees(r.AccountID) {
			continue
		}
		name := names[r.AccountID]
		if name == "" {
			name = "#" + strconv.FormatInt(r.AccountID, 10)
		}
		v.Spend.Rows = append(v.Spend.Rows, pv.SpendRow{Account: name, Project: r.Project, Key: r.Key, Calls: r.Calls, Charged: r.Charged})
		v.Spend.Total = v.Spend.Total.Add(r.Charged)
	}
	return v, nil
}

func accountLabel(name string, id int64) string {
	if name == "" {
		return "#" + strconv.FormatInt(id, 10)
	}
	return name + " #" + strconv.FormatInt(id, 10)
}

func budgetRow(b ledger.Budget, account, deleteURL string) pv.BudgetRow {
	r := pv.BudgetRow{ID: b.ID, Account: account, Project: b.Project, Key: b.Key, Period: string(b.Period), Amount: b.Amount,
		Unit: string(b.Unit), Cap: b.Cap, Used: b.Used, ResetAt: b.ResetAt, HardStop: b.HardStop, DeleteURL: deleteURL}
	if b.Cap.IsPositive() {
		r.Percent = b.Used.Mul(decimal.NewFromInt(100)).Div(b.Cap).IntPart()
	}
	ts := make([]string, len(b.Thresholds))
	for i, t := range b.Thresholds {
		ts[i] = strconv.Itoa(t) + "%"
	}
	r.Thresholds = strings.Join(ts, " ")
	return r
}

// spendQuery is the range of the spend by project and key: this month so
// far (Shanghai) unless from and to say otherwise.
type spendQuery struct{ from, to time.Time }

func (q spendQuery) values() url.Values {
	return url.Values{"from": {format.Date(q.from)}, "to": {format.Date(q.to.AddDate(0, 0, -1))}}
}

func budgetSpendQuery(c echo.Context) (spendQuery, error) {
	from, to := monthStart(), usage.Day(time.Now())
	if v := c.QueryParam("from"); v != "" {
		t, ok := shanghaiDate(v)
		if !ok {
			return spendQuery{}, echo.ErrBadRequest
		}
		from = t
	}
	if v := c.QueryParam("to"); v != "" {
		t, ok := shanghaiDate(v)
		if !ok {
			return spendQuery{}, echo.ErrBadRequest
		}
		to = t
	}
	if to.Before(from) {
		from, to = to, from
	}
	return spendQuery{from: from, to: to.AddDate(0, 0, 1)}, nil
}

// LabelChartData is the spend chart's JSON: one bar per account, project
// and key, most spent first.
type LabelChartData struct {
	Labels []string      `json:"labels"`
	Values []json.Number `json:"values"`
	Total  string        `json:"total"`
}

// BudgetSpendChart answers the spend chart's data for the page's range.
func (s *Server) BudgetSpendChart(c echo.Context) error {
	cu := customerOf(c)
	q, err := budgetSpendQuery(c)
	if err != nil {
		return err
	}
	rows, err := s.portal.usage.SpendByLabel(c.Request().Context(), cu.scope(), q.from, q.to)
	if err != nil {
		return err
	}
	d := LabelChartData{Labels: []string{}, Values: []json.Number{}}
	total := decimal.Zero
	for _, r := range rows {
		if !cu.sees(r.AccountID) {
			continue
		}
		label := r.Label()
		if cu.Account.Kind == ledger.AccountEnterprise && r.AccountID != cu.Account.ID {
			label = "#" + strconv.FormatInt(r.AccountID, 10) + " " + label
		}
		d.Labels = append(d.Labels, label)
		d.Values = append(d.Values, json.Number(format.DecimalString(r.Charged)))
		total = total.Add(r.Charged)
	}
	d.Total = format.DecimalString(total)
	return c.JSON(http.StatusOK, d)
}

// budgetSpendColumns are the spend CSV's columns (headers csv.spend.<column>).
var budgetSpendColumns = []string{"account_id", "project", "key", "calls", "charged", "unpaid"}

// BudgetSpendCSV exports spend by account, project and key for the range,
// UTF-8 with a byte order mark (Excel reads the Chinese headers right).
func (s *Server) BudgetSpendCSV(c echo.Context) error {
	cu := customerOf(c)
	q, err := budgetSpendQuery(c)
	if err != nil {
		return err
	}
	rows, err := s.portal.usage.SpendByLabel(c.Request().Context(), cu.scope(), q.from, q.to)
	if err != nil {
		return err
	}
	vals := q.values()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="spend-`+vals.Get("from")+`-`+vals.Get("to")+`.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := c.Response().Writer
	if _, err := w.Write([]byte("\uFEFF")); err != nil {
		return nil
	}
	cw := csvexport.NewWriter(w)
	header := make([]string, 0, len(budgetSpendColumns))
	for _, k := range budgetSpendColumns {
		header = append(header, tr(c, "csv.spend."+k))
	}
	_ = cw.Write(header)
	for _, r := range rows {
		if !cu.sees(r.AccountID) {
			continue
		}
		_ = cw.Write([]string{strconv.FormatInt(r.AccountID, 10), r.Project, r.Key, strconv.FormatInt(r.Calls, 10),
			r.Charged.StringFixed(6), r.Unpaid.StringFixed(6)})
	}
	cw.Flush()
	return nil
}
