package web

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/journal"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/settings"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// maxJournalDays is the longest journal one request makes.
const maxJournalDays = 366

// adminJournalRoutes: the book-keeping journal export (finance, admin).
func (s *Server) adminJournalRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/journal", "admin.journal", s.AdminJournal, auth.RoleFinance, auth.RoleAdmin)
	s.adminRoute(g, http.MethodGet, "/journal.csv", "admin.journal.csv", s.AdminJournalCSV, auth.RoleFinance, auth.RoleAdmin)
}

// journalQuery reads from and to (inclusive Asia/Shanghai dates; the
// current month by default).
func journalQuery(c echo.Context) (adminview.JournalForm, time.Time, time.Time, adminview.Errors) {
	now := time.Now().In(format.Shanghai)
	f := adminview.JournalForm{From: c.QueryParam("from"), To: c.QueryParam("to")}
	if f.From == "" {
		f.From = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, format.Shanghai).Format("2006-01-02")
	}
	if f.To == "" {
		f.To = now.Format("2006-01-02")
	}
	errs := adminview.Errors{}
	from, ok := shanghaiDate(f.From)
	if !ok {
		errs["from"] = tr(c, "admin.invalid_date")
	}
	to, ok := shanghaiDate(f.To)
	switch {
	case !ok || to.Before(from):
		errs["to"] = tr(c, "admin.invalid_date")
	case len(errs) == 0 && to.Sub(from) >= maxJournalDays*24*time.Hour:
		errs["to"] = tr(c, "admin.journal.too_long")
	}
	return f, from, to.AddDate(0, 0, 1), errs
}

// AdminJournal shows the journal of the chosen days: each day's sums, the
// account mapping with the period's totals, and the downloads.
func (s *Server) AdminJournal(c echo.Context) error {
	f, from, to, errs := journalQuery(c)
	v := adminview.JournalView{Frame: adminFrame(c, "admin.journal"), Form: f, Errors: errs}
	if len(errs) > 0 {
		return Render(c, http.StatusUnprocessableEntity, adminview.Journal(v), nil)
	}
	j, err := s.admin.journal.Journal(c.Request().Context(), from, to, actor(c))
	if err != nil {
		// A start inside the archived months: said on the from field, with
		// the first date the revenue report (and so the journal) may start on.
		msgs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		v.Errors = msgs
		return Render(c, status, adminview.Journal(v), nil)
	}
	yuan := func(fen int64) decimal.Decimal { return decimal.New(fen, -2) }
	v.Shown = true
	q := "from=" + f.From + "&to=" + f.To
	v.GenericURL = s.URL("admin.journal.csv") + "?" + q + "&layout=generic"
	v.KingdeeURL = s.URL("admin.journal.csv") + "?" + q + "&layout=kingdee"
	if v.Frame.Has(string(auth.RoleAdmin)) {
		v.SettingsURL = s.URL("admin.settings") + "#settings-journal"
	}
	var debit, credit int64
	for _, d := range j.Days {
		row := adminview.JournalDayRow{Date: d.Date, Debit: yuan(d.Debit), Credit: yuan(d.Credit)}
		for _, l := range d.Lines {
			if l.Memo {
				row.Memos++
			} else {
				row.Lines++
			}
		}
		debit += d.Debit
		credit += d.Credit
		v.Days = append(v.Days, row)
	}
	v.Debit, v.Credit = yuan(debit), yuan(credit)
	totals := j.Totals()
	for _, a := range journal.AllAccounts {
		t := totals[a]
		v.Accounts = append(v.Accounts, adminview.JournalAccountRow{Key: string(a), Label: tr(c, "settings.field."+settings.JournalField(a)),
			Code: j.Accounts.Code(a), Debit: yuan(t[0]), Credit: yuan(t[1])})
	}
	v.VATRate = j.Accounts.VATRate.String()
	return Render(c, http.StatusOK, adminview.Journal(v), nil)
}

// AdminJournalCSV downloads the journal: layout=generic (every line, memo
// lines too) or layout=kingdee (the Kingdee K/3 voucher import layout).
func (s *Server) AdminJournalCSV(c echo.Context) error {
	f, from, to, errs := journalQuery(c)
	layout := c.QueryParam("layout")
	if len(errs) > 0 || (layout != "generic" && layout != "kingdee") {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	j, err := s.admin.journal.Journal(c.Request().Context(), from, to, actor(c))
	if err != nil {
		return s.archivedCSV(c, err)
	}
	var buf bytes.Buffer
	if layout == "kingdee" {
		err = journal.WriteKingdee(&buf, j, staffFrom(c).Name)
	} else {
		err = journal.WriteGeneric(&buf, j)
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="journal-%s-%s-%s.csv"`, layout, f.From, f.To))
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}
