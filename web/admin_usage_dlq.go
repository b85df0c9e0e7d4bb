package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/usagestream"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminUsageDLQRoutes: the usage events the queue could not charge (with
// NATS_URL), replayed or discarded by finance and admins, audited.
func (s *Server) adminUsageDLQRoutes(g *echo.Group) {
	roles := usagestream.DeskRoles
	s.adminRoute(g, http.MethodGet, "/usage-dlq", "admin.usage_dlq", s.AdminUsageDLQ, roles...)
	s.adminRoute(g, http.MethodPost, "/usage-dlq/:seq/replay", "admin.usage_dlq.replay", s.AdminUsageDLQReplay, roles...)
	s.adminRoute(g, http.MethodPost, "/usage-dlq/:seq/discard", "admin.usage_dlq.discard", s.AdminUsageDLQDiscard, roles...)
}

// AdminUsageDLQ lists the dead-lettered usage events, oldest first, 50 a
// page (?after= the last sequence shown; ?done= what was just done).
func (s *Server) AdminUsageDLQ(c echo.Context) error {
	v := adminview.UsageDLQView{Frame: adminFrame(c, "admin.usage_dlq"), Configured: s.usageDesk != nil}
	switch c.QueryParam("done") {
	case "replayed", "discarded":
		v.Flash = tr(c, "admin.usage_dlq.done_"+c.QueryParam("done"))
	}
	if s.usageDesk == nil {
		return Render(c, http.StatusOK, adminview.UsageDLQ(v), nil)
	}
	after, _ := strconv.ParseUint(c.QueryParam("after"), 10, 64)
	letters, next, total, err := s.usageDesk.List(c.Request().Context(), actor(c), after, 50)
	if err != nil {
		return err
	}
	v.Total = total
	for _, d := range letters {
		ev := d.Usage.Event
		v.Rows = append(v.Rows, adminview.UsageDLQRow{Seq: d.Seq, Reason: d.Reason, Deliveries: d.Deliveries, FailedAt: d.FailedAt,
			Live: d.Usage.Mode == ledger.ModeLive, Account: ev.Account, Model: ev.Model, Key: ev.IdempotencyKey,
			Input: ev.InputTokens, Output: ev.OutputTokens, CacheHit: ev.CacheHitTokens, OccurredAt: ev.OccurredAt,
			Decoded: d.Usage.Mode != ""})
	}
	if after != 0 {
		v.FirstURL = s.URL("admin.usage_dlq")
	}
	if next != 0 {
		v.NextURL = s.URL("admin.usage_dlq") + "?after=" + strconv.FormatUint(next, 10)
	}
	return Render(c, http.StatusOK, adminview.UsageDLQ(v), nil)
}

// AdminUsageDLQReplay sends one dead-lettered event to be charged again.
func (s *Server) AdminUsageDLQReplay(c echo.Context) error {
	return s.usageDLQAct(c, "replayed", (*usagestream.Desk).Replay)
}

// AdminUsageDLQDiscard removes one dead-lettered event for good.
func (s *Server) AdminUsageDLQDiscard(c echo.Context) error {
	return s.usageDLQAct(c, "discarded", (*usagestream.Desk).Discard)
}

func (s *Server) usageDLQAct(c echo.Context, done string,
	op func(*usagestream.Desk, context.Context, backoffice.Actor, uint64) (usagestream.DeadLetter, error)) error {
	seq, err := strconv.ParseUint(c.Param("seq"), 10, 64)
	if err != nil || s.usageDesk == nil {
		return usagestream.ErrNotFound
	}
	if _, err := op(s.usageDesk, c.Request().Context(), actor(c), seq); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("admin.usage_dlq")+"?done="+done)
}
