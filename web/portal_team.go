package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/team"
	pv "github.com/seed75218f88/credits/views/portal"
)

// portalTeamRoutes registers the team page of an enterprise (what each
// role may do is in portalAccess) under /portal.
func (s *Server) portalTeamRoutes(g *echo.Group) {
	named(g.GET("/team", s.TeamPage), "portal.team")
	named(g.POST("/team/invite", s.TeamInvite), "portal.team.invite")
	named(g.POST("/team/members/:id/role", s.TeamChangeRole), "portal.team.role")
	named(g.POST("/team/members/:id/limit", s.TeamSetLimit), "portal.team.limit")
	named(g.POST("/team/members/:id/remove", s.TeamRemove), "portal.team.remove")
	named(g.POST("/team/invitations/:id/revoke", s.TeamRevoke), "portal.team.revoke")
}

// teamAcceptRoutes registers the invitation link's page: open to visitors
// (it offers to sign in or up), accepted by the signed-in invitee.
func (s *Server) teamAcceptRoutes(e *echo.Echo) {
	named(e.GET("/team/accept/:token", s.TeamAcceptPage), "team.accept")
	named(e.POST("/team/accept/:token", s.TeamAccept), "team.accept.post")
}

// teamActor is the signed-in customer as the audit log records them.
func teamActor(c echo.Context) team.Actor {
	cu := customerOf(c)
	return team.Actor{UserID: cu.User.ID, Email: cu.User.Login(), IP: ClientIP(c)}
}

// TeamPage lists the enterprise's members and pending invitations; an
// owner also gets the forms. ?done= names what was just done.
func (s *Server) TeamPage(c echo.Context) error {
	v, err := s.teamView(c, pv.InviteForm{})
	if err != nil {
		return err
	}
	if d := c.QueryParam("done"); d != "" && strings.Contains("invited role limit removed revoked", d) {
		v.Done = d
	}
	return Render(c, http.StatusOK, pv.Team(v), nil)
}

func (s *Server) teamView(c echo.Context, form pv.InviteForm) (pv.TeamView, error) {
	cu, err := requireEnterprise(c)
	if err != nil {
		return pv.TeamView{}, err
	}
	ctx := c.Request().Context()
	v := pv.TeamView{Frame: s.frame(c, "portal.team"), Manage: cu.Access.Role == team.RoleOwner, Form: form}
	for _, r := range team.Roles {
		v.Roles = append(v.Roles, string(r))
	}
	subs, err := s.portal.usage.SubAccounts(ctx, cu.Account.ID, monthStart())
	if err != nil {
		return v, err
	}
	names := map[int64]string{}
	for _, a := range subs {
		names[a.ID] = accountLabel(a.Name, a.ID)
		v.SubAccounts = append(v.SubAccounts, pv.Option{Value: strconv.FormatInt(a.ID, 10), Label: names[a.ID]})
	}
	limitNames := func(ids []int64) []string {
		var out []string
		for _, id := range ids {
			out = append(out, names[id])
		}
		return out
	}
	members, err := s.team.Members(ctx, cu.Account.ID)
	if err != nil {
		return v, err
	}
	for _, m := range members {
		login := m.Email
		if login == "" {
			login = m.Phone
		}
		v.Members = append(v.Members, pv.MemberRow{ID: m.ID, Name: m.Name, Login: login, Role: string(m.Role),
			Limit: m.Limit, LimitNames: limitNames(m.Limit), Self: m.UserID == cu.User.ID})
	}
	invs, err := s.team.PendingInvitations(ctx, cu.Account.ID)
	if err != nil {
		return v, err
	}
	for _, inv := range invs {
		v.Invitations = append(v.Invitations, pv.InvitationRow{ID: inv.ID, Email: inv.Email, Role: string(inv.Role),
			LimitNames: limitNames(inv.Limit), ExpiresAt: inv.ExpiresAt})
	}
	return v, nil
}

// formLimit reads the ticked sub-accounts: none is no limit (nil); a value
// that is not a number is kept as an id no account has, so the domain
// refuses it with the field's message.
func formLimit(c echo.Context) []int64 {
	f, err := c.FormParams()
	if err != nil || len(f["sub_accounts"]) == 0 {
		return nil
	}
	out := make([]int64, 0, len(f["sub_accounts"]))
	for _, v := range f["sub_accounts"] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			id = -1
		}
		out = append(out, id)
	}
	return out
}

// TeamInvite invites a member by email (an owner): every field's problem
// at once in the user's language (422), else the mail goes out with the
// link and the page says so.
func (s *Server) TeamInvite(c echo.Context) error {
	cu := customerOf(c)
	form := pv.InviteForm{Email: strings.TrimSpace(c.FormValue("email")), Role: c.FormValue("role")}
	if f, err := c.FormParams(); err == nil {
		form.SubAccounts = f["sub_accounts"]
	}
	_, _, err := s.team.Invite(c.Request().Context(), teamActor(c), cu.Account.ID,
		team.InviteRequest{Email: form.Email, Role: team.Role(form.Role), Limit: formLimit(c)})
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			if !errors.Is(err, team.ErrAlreadyMember) {
				return err
			}
			errs, status = map[string]string{"email": tr(c, "error.team.already_member")}, http.StatusUnprocessableEntity
		}
		form.Errors = errs
		v, verr := s.teamView(c, form)
		if verr != nil {
			return verr
		}
		return Render(c, status, pv.Team(v), nil)
	}
	return HXRedirect(c, s.URL("portal.team")+"?done=invited")
}

// TeamChangeRole changes a member's role (an owner); the last owner stays.
func (s *Server) TeamChangeRole(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.team.ChangeRole(c.Request().Context(), teamActor(c), customerOf(c).Account.ID, id, team.Role(c.FormValue("role"))); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("portal.team")+"?done=role")
}

// TeamSetLimit sets the sub-accounts a member sees (an owner); none ticked
// is all.
func (s *Server) TeamSetLimit(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.team.SetLimit(c.Request().Context(), teamActor(c), customerOf(c).Account.ID, id, formLimit(c)); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("portal.team")+"?done=limit")
}

// TeamRemove removes a member (an owner); the last owner stays.
func (s *Server) TeamRemove(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.team.Remove(c.Request().Context(), teamActor(c), customerOf(c).Account.ID, id); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("portal.team")+"?done=removed")
}

// TeamRevoke revokes a pending invitation (an owner).
func (s *Server) TeamRevoke(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.team.Revoke(c.Request().Context(), teamActor(c), customerOf(c).Account.ID, id); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("portal.team")+"?done=revoked")
}

// acceptProblems are the accept page's messages for a link that no longer
// works.
var acceptProblems = map[error]string{
	team.ErrInvitationNotFound: "error.team.invitation_not_found",
	team.ErrInvitationUsed:     "error.team.invitation_used",
	team.ErrInvitationExpired:  "error.team.invitation_expired",
	team.ErrInvitationRevoked:  "error.team.invitation_revoked",
}

// TeamAcceptPage shows an invitation: to a visitor with the ways to sign up
// (the invited address filled in) or in and come back; to the invitee,
// signed in, the button that accepts; to anyone else, that it is for
// another address. A link that no longer works says why (410, or 404).
func (s *Server) TeamAcceptPage(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	back := s.URL("team.accept", token)
	inv, err := s.team.InvitationByToken(ctx, token)
	if err == nil {
		err = s.team.Check(inv)
	}
	if err != nil {
		key, ok := acceptProblems[err]
		if !ok {
			return err
		}
		return Render(c, s.LookupError(err).Status, pv.TeamAccept(pv.AcceptView{Problem: key}), nil)
	}
	v := pv.AcceptView{Token: token, Enterprise: inv.AccountName, Email: inv.Email, Role: string(inv.Role), ExpiresAt: inv.ExpiresAt,
		SignInURL: s.URL("auth.signin") + "?next=" + url.QueryEscape(back),
		SignUpURL: s.URL("auth.signup") + "?next=" + url.QueryEscape(back) + "&login=" + url.QueryEscape(inv.Email)}
	u, ok, err := s.sessionUser(c)
	if err != nil {
		return err
	}
	if ok && u.Kind == auth.KindCustomer && !u.Disabled {
		v.SignedIn = u.Login()
		v.WrongUser = u.Email != inv.Email
	}
	return Render(c, http.StatusOK, pv.TeamAccept(v), nil)
}

// TeamAccept accepts the invitation as the signed-in invitee and opens the
// portal on the enterprise.
func (s *Server) TeamAccept(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	u, ok, err := s.sessionUser(c)
	if err != nil {
		return err
	}
	if !ok || u.Kind != auth.KindCustomer || u.Disabled {
		return HXRedirect(c, s.URL("auth.signin")+"?next="+url.QueryEscape(s.URL("team.accept", token)))
	}
	m, err := s.team.Accept(ctx, u, ClientIP(c), token)
	if err != nil {
		return err
	}
	s.Sessions.Put(ctx, sessionAccountKey, m.AccountID)
	return HXRedirect(c, s.URL("portal.overview"))
}
