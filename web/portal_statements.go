package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/statement"
	pv "github.com/seed75218f88/credits/views/portal"
)

// portalStatementRoutes: monthly statements (对账单) of the account the user
// acts on, for owners and finance. The download URLs name the account, so
// a link kept after switching accounts never serves another account's
// statement: any account but the one acted on is not found.
func (s *Server) portalStatementRoutes(g *echo.Group) {
	named(g.GET("/statements", s.Statements), "portal.statements")
	named(g.GET("/statements/:account/:month/pdf", s.StatementPDF), "portal.statement.pdf")
	named(g.GET("/statements/:account/:month/xlsx", s.StatementXLSX), "portal.statement.xlsx")
}

// Statements lists the account's closed months with their downloads; a
// month moved to the archive says so instead (its download is 410).
func (s *Server) Statements(c echo.Context) error {
	cu := customerOf(c)
	v := pv.StatementsView{Frame: s.frame(c, "portal.statements"), Sub: cu.Account.Kind == ledger.AccountSub}
	if !v.Sub {
		months, err := s.statements.Months(c.Request().Context(), cu.Account.ID)
		if err != nil {
			return err
		}
		archived, err := s.statements.ArchivedThrough(c.Request().Context(), cu.Account.ID)
		if err != nil {
			return err
		}
		id := strconv.FormatInt(cu.Account.ID, 10)
		for _, m := range months {
			v.Months = append(v.Months, pv.StatementMonth{Month: m.String(), Archived: statement.Archived(m, archived),
				PDFURL: s.URL("portal.statement.pdf", id, m.String()), XLSXURL: s.URL("portal.statement.xlsx", id, m.String())})
		}
	}
	return Render(c, http.StatusOK, pv.Statements(v), nil)
}

// StatementPDF downloads a month's statement as PDF (Chinese).
func (s *Server) StatementPDF(c echo.Context) error {
	st, err := s.statementOf(c)
	if err != nil {
		return err
	}
	b, err := st.PDF()
	if err != nil {
		return err
	}
	return statementDownload(c, "application/pdf", st.Filename()+".pdf", b)
}

// StatementXLSX downloads a month's statement as an Excel workbook.
func (s *Server) StatementXLSX(c echo.Context) error {
	st, err := s.statementOf(c)
	if err != nil {
		return err
	}
	b, err := st.XLSX()
	if err != nil {
		return err
	}
	return statementDownload(c, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", st.Filename()+".xlsx", b)
}

// statementOf computes the statement the URL names, which must be of the
// account the user acts on.
func (s *Server) statementOf(c echo.Context) (statement.Statement, error) {
	cu := customerOf(c)
	id, err := strconv.ParseInt(c.Param("account"), 10, 64)
	if err != nil || id != cu.Account.ID {
		return statement.Statement{}, statement.ErrNotFound
	}
	m, err := statement.ParseMonth(c.Param("month"))
	if err != nil {
		return statement.Statement{}, err
	}
	return s.statements.Compute(c.Request().Context(), id, m)
}

func statementDownload(c echo.Context, contentType, filename string, b []byte) error {
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+filename+`"`)
	return c.Blob(http.StatusOK, contentType, b)
}
