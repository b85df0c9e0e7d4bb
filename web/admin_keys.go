package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminKeyRoutes: the gateway API's service keys (admins only). Revoking
// is confirmed on the list page itself (?revoke=ID), so it works without
// JavaScript.
func (s *Server) adminKeyRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/keys", "admin.keys", s.AdminKeys, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/keys", "admin.keys.create", s.AdminCreateKey, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/keys/:id/revoke", "admin.key.revoke", s.AdminRevokeKey, auth.RoleAdmin)
}

// AdminKeys lists the service keys with the create form; ?revoke=ID asks
// to confirm revoking that key, ?revoked=ID says it was.
func (s *Server) AdminKeys(c echo.Context) error {
	confirm, _ := strconv.ParseInt(c.QueryParam("revoke"), 10, 64)
	revoked, _ := strconv.ParseInt(c.QueryParam("revoked"), 10, 64)
	return s.keysPage(c, http.StatusOK, adminview.KeysView{}, keyMarks{confirm: confirm, revoked: revoked})
}

// keyMarks are the keys the list page points at: one to confirm revoking,
// one just revoked (0: none).
type keyMarks struct{ confirm, revoked int64 }

// keysPage renders the page with the keys, newest first.
func (s *Server) keysPage(c echo.Context, status int, v adminview.KeysView, marks keyMarks) error {
	keys, err := s.admin.bo.ServiceKeys(c.Request().Context())
	if err != nil {
		return err
	}
	v.Frame = adminFrame(c, "admin.keys")
	v.NameMaxLen = gateway.KeyNameMaxLen
	for _, k := range keys {
		row := keyRow(k)
		v.Keys = append(v.Keys, row)
		switch {
		case k.ID == marks.confirm && k.RevokedAt == nil:
			v.Confirm = &row
		case k.ID == marks.revoked && k.RevokedAt != nil:
			v.Flash = tr(c, "admin.keys.revoked_done")
		}
	}
	return Render(c, status, adminview.Keys(v), nil)
}

func keyRow(k backoffice.ServiceKey) adminview.KeyRow {
	return adminview.KeyRow{ID: k.ID, Name: k.Name, Mode: string(k.Mode), Prefix: k.Prefix,
		CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

// AdminCreateKey creates a service key and shows its secret this once: it
// is in this response only (never stored, logged, redirected to or kept in
// the session), which no cache may keep.
func (s *Server) AdminCreateKey(c echo.Context) error {
	form := adminview.KeyForm{Name: strings.TrimSpace(c.FormValue("name")), Mode: c.FormValue("mode")}
	k, secret, err := s.admin.bo.CreateServiceKey(c.Request().Context(), actor(c), ledger.Mode(form.Mode), form.Name)
	if err != nil {
		errs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		return s.keysPage(c, status, adminview.KeysView{Form: form, Errors: errs}, keyMarks{})
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.keysPage(c, http.StatusOK, adminview.KeysView{Created: &adminview.CreatedKey{KeyRow: keyRow(k), Secret: secret}}, keyMarks{})
}

// AdminRevokeKey revokes a service key: the API refuses it from now on.
func (s *Server) AdminRevokeKey(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if _, err := s.admin.bo.RevokeServiceKey(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("admin.keys")+"?revoked="+strconv.FormatInt(id, 10))
}
