package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/csvexport"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/usage"
	pv "github.com/seed75218f88/credits/views/portal"
)

// TransactionsPageSize is how many ledger events one page shows.
const TransactionsPageSize = 50

// Transactions lists every ledger event of the account, newest first, and
// answers "balance on date …" from the ledger's point-in-time balance.
func (s *Server) Transactions(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	v := pv.TransactionsView{Frame: s.frame(c, "portal.transactions")}
	status := http.StatusOK
	if d := strings.TrimSpace(c.QueryParam("date")); d != "" {
		day, ok := shanghaiDate(d)
		today := usage.Day(time.Now())
		switch {
		case !ok:
			// A date that does not exist (2026-02-30) or is not one: said
			// on the field, with the page, not an error page.
			v.Date, v.DateError, status = d, i18n.T(ctx, "tx.balance_on_invalid"), http.StatusUnprocessableEntity
		case day.After(today):
			// Nothing is recorded after now: a later day has no balance yet.
			v.Date, v.DateError, status = d, i18n.Tf(ctx, "tx.balance_on_future", map[string]string{"Today": format.Date(today)}), http.StatusUnprocessableEntity
		default:
			// The balance at the end of that day in Asia/Shanghai.
			end := day.AddDate(0, 0, 1).Add(-1)
			b, err := s.portal.ledger.BalanceAt(ctx, cu.Account.ID, end)
			if err != nil {
				return err
			}
			v.Date, v.BalanceAt = format.Date(day), &b
		}
	}
	rows, err := s.transactionRows(c, 0)
	if err != nil {
		return err
	}
	v.Rows = rows
	return Render(c, status, pv.Transactions(v), nil)
}

func (s *Server) transactionRows(c echo.Context, cursor int64) (pv.TransactionRows, error) {
	cu := customerOf(c)
	evs, next, err := s.portal.ledger.Events(c.Request().Context(), cu.Account.ID, ledger.EventFilter{}, cursor, TransactionsPageSize)
	if err != nil {
		return pv.TransactionRows{}, err
	}
	out := pv.TransactionRows{Events: eventRows(evs)}
	if next != 0 {
		out.MoreURL = s.URL("portal.transactions.rows") + "?" + url.Values{"cursor": {strconv.FormatInt(next, 10)}}.Encode()
	}
	return out, nil
}

// TransactionRows answers "load more" on the transactions page.
func (s *Server) TransactionRows(c echo.Context) error {
	cursor, _ := strconv.ParseInt(c.QueryParam("cursor"), 10, 64)
	rows, err := s.transactionRows(c, cursor)
	if err != nil {
		return err
	}
	return RenderComponent(c, http.StatusOK, pv.TransactionRowsPart(rows))
}

// transactionCSVColumns are the transactions export's columns (header keys
// csv.tx.<column>). Rows come newest first by when the ledger recorded them,
// like the page; the call's own time is its own column.
var transactionCSVColumns = []string{"recorded_at", "occurred_at", "type", "amount", "balance_after",
	"lot_kind", "source", "reason", "model", "request_id", "op_id"}

// TransactionsCSV exports every ledger event of the account as CSV (UTF-8
// with a byte order mark so Excel reads the Chinese headers), streamed page
// by page so a long history never sits in memory.
func (s *Server) TransactionsCSV(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	// Read the first page before the 200 goes out, so an error is a page.
	evs, next, err := s.portal.ledger.Events(ctx, cu.Account.ID, ledger.EventFilter{}, 0, 1000)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="transactions-`+
		time.Now().In(format.Shanghai).Format("20060102")+`.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := c.Response().Writer
	if _, err := w.Write([]byte("\uFEFF")); err != nil {
		return nil
	}
	cw := csvexport.NewWriter(w)
	header := make([]string, 0, len(transactionCSVColumns))
	for _, k := range transactionCSVColumns {
		header = append(header, tr(c, "csv.tx."+k))
	}
	_ = cw.Write(header)
	stamp := func(t time.Time) string { return t.In(format.Shanghai).Format("2006-01-02 15:04:05") }
	for {
		for _, e := range evs {
			lot := ""
			if e.LotKind != nil {
				lot = tr(c, "csv.tx.lot."+string(*e.LotKind))
			}
			_ = cw.Write([]string{stamp(e.RecordedAt), stamp(e.OccurredAt), tr(c, "event."+string(e.Type)),
				e.Amount.String(), e.BalanceAfter.String(), lot, e.SourceRef, e.ReasonCode, e.Model, e.RequestID,
				strconv.FormatInt(e.OpID, 10)})
		}
		if next == 0 {
			break
		}
		if evs, next, err = s.portal.ledger.Events(ctx, cu.Account.ID, ledger.EventFilter{}, next, 1000); err != nil {
			s.Logger.Warn("transactions export stopped", "error", err.Error())
			break
		}
	}
	cw.Flush()
	return nil
}
