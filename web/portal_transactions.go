package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/format"
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
	if d := c.QueryParam("date"); d != "" {
		day, ok := shanghaiDate(d)
		if !ok {
			return echo.ErrBadRequest
		}
		// The balance at the end of that day in Asia/Shanghai.
		end := day.AddDate(0, 0, 1).Add(-1)
		b, err := s.portal.ledger.BalanceAt(ctx, cu.Account.ID, end)
		if err != nil {
			return err
		}
		v.Date, v.BalanceAt = format.Date(day), &b
	}
	rows, err := s.transactionRows(c, 0)
	if err != nil {
		return err
	}
	v.Rows = rows
	return Render(c, http.StatusOK, pv.Transactions(v), nil)
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
