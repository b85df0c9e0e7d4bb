package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminChannelRoutes: WeChat Pay / Alipay bill reconciliation (finance).
func (s *Server) adminChannelRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/channel", "admin.channel", s.AdminChannel, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/channel", "admin.channel.import", s.AdminImportBill, auth.RoleFinance)
	s.adminRoute(g, http.MethodPost, "/channel/differences/:id/resolve", "admin.difference.resolve", s.AdminResolveDifference, auth.RoleFinance)
}

// AdminChannel shows the open differences in three lists.
func (s *Server) AdminChannel(c echo.Context) error {
	return s.channelPage(c, http.StatusOK, adminview.ChannelView{})
}

func (s *Server) channelPage(c echo.Context, status int, v adminview.ChannelView) error {
	diffs, err := s.admin.bo.Differences(c.Request().Context(), backoffice.DifferenceFilter{State: "open"})
	if err != nil {
		return err
	}
	v.Frame = adminFrame(c, "admin.channel")
	v.LimitsHint = s.importLimitsHint(c)
	v.Lists = map[string][]adminview.DifferenceRow{}
	for _, d := range diffs {
		r := adminview.DifferenceRow{ID: d.ID, Channel: tr(c, "pay.channel."+string(d.Channel)), Status: string(d.TradeStatus), OutTradeNo: d.OutTradeNo,
			RefundNo: d.RefundNo, ChannelTradeNo: d.ChannelTradeNo, TradedAt: d.TradedAt}
		if d.ChannelAmount.Valid {
			r.ChannelAmount = &d.ChannelAmount.Decimal
		}
		if d.OurAmount.Valid {
			r.OurAmount = &d.OurAmount.Decimal
		}
		v.Lists[string(d.Kind)] = append(v.Lists[string(d.Kind)], r)
	}
	return Render(c, status, adminview.Channel(v), nil)
}

// AdminImportBill imports a channel's daily bill and shows its counts.
func (s *Server) AdminImportBill(c echo.Context) error {
	fh, err := c.FormFile("file")
	if err != nil {
		return s.channelPage(c, http.StatusUnprocessableEntity, adminview.ChannelView{Errors: fieldError(c, "file", "file_required")})
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := s.admin.bo.ImportChannelBill(c.Request().Context(), f, fh.Filename, actor(c))
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		if errs["file"] != "" {
			errs["file"] += " " + i18n.Tf(c.Request().Context(), "admin.statements.file_again", map[string]string{"File": fh.Filename})
		}
		return s.channelPage(c, status, adminview.ChannelView{Errors: errs})
	}
	return s.channelPage(c, http.StatusOK, adminview.ChannelView{Imported: &adminview.BillCounts{Lines: res.Lines,
		OnlyChannel: res.New[backoffice.OnlyChannel], OnlyOurs: res.New[backoffice.OnlyOurs], AmountDiffers: res.New[backoffice.AmountDiffers]}})
}

// AdminResolveDifference closes a difference with a required reason.
func (s *Server) AdminResolveDifference(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.admin.bo.ResolveDifference(c.Request().Context(), id, strings.TrimSpace(c.FormValue("reason")), actor(c)); err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		return s.channelPage(c, status, adminview.ChannelView{Errors: errs})
	}
	return HXRedirect(c, s.URL("admin.channel"))
}
