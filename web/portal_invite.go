package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/ledger"
	pv "github.com/seed75218f88/credits/views/portal"
)

func (s *Server) portalInviteRoutes(g *echo.Group) {
	named(g.GET("/invite", s.Invite), "portal.invite")
}

// Invite shows the account's invite link, how many signed up with it and
// the rewards received (internal/referral).
func (s *Server) Invite(c echo.Context) error {
	cu := customerOf(c)
	v := pv.InviteView{Frame: s.frame(c, "portal.invite"), Sub: cu.Account.Kind == ledger.AccountSub}
	if v.Sub {
		return Render(c, http.StatusOK, pv.Invite(v), nil)
	}
	sum, err := s.referrals.Summary(c.Request().Context(), cu.Account.ID)
	if err != nil {
		return err
	}
	r := s.referrals.Reward()
	v.Code, v.Invited, v.Granted, v.Percent, v.Cap = sum.Code, sum.Invited, sum.Granted, r.Percent, r.Cap
	v.Link = s.Config.BaseURL + s.URL("auth.signup") + "?ref=" + sum.Code
	for _, g := range sum.Grants {
		v.Grants = append(v.Grants, pv.InviteGrant{At: g.GrantedAt, TopUp: g.TopUpCredits, Amount: g.Amount,
			Invitee: maskAccount(g.InviteeID)})
	}
	return Render(c, http.StatusOK, pv.Invite(v), nil)
}

// maskAccount shows the last three digits of an account id: an inviter
// sees that a reward came, not whose account it was.
func maskAccount(id int64) string {
	s := strconv.FormatInt(id, 10)
	if len(s) > 3 {
		s = s[len(s)-3:]
	}
	return "…" + s
}
