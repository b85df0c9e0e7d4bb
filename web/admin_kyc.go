package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/verification"
	adminview "github.com/seed75218f88/credits/views/admin"
	"github.com/seed75218f88/credits/views/components"
)

// kycRoles review verifications. Whether one of them may see a full number
// or licence is the verification service's decision (PII_REVEAL_ROLES),
// and every attempt is audited there.
var kycRoles = []auth.Role{auth.RoleSupport, auth.RoleAdmin}

// invoiceRoles issue, reject, reverse and reissue invoices.
var invoiceRoles = []auth.Role{auth.RoleFinance, auth.RoleAdmin}

// adminKYCRoutes registers the back office's verification review queue and
// invoice queue. Ids travel in the query or the form (?id=), so a route
// answers a missing id with 400 and an unknown one with 404.
func (s *Server) adminKYCRoutes(g *echo.Group) {
	if s.kyc.verification != nil {
		s.adminRoute(g, http.MethodGet, "/kyc", "admin.kyc", s.AdminKYCQueue, kycRoles...)
		s.adminRoute(g, http.MethodGet, "/kyc/detail", "admin.kyc.detail", s.AdminKYCDetail, kycRoles...)
		s.adminRoute(g, http.MethodPost, "/kyc/decide", "admin.kyc.decide", s.AdminKYCDecide, kycRoles...)
		s.adminRoute(g, http.MethodPost, "/kyc/reveal", "admin.kyc.reveal", s.AdminKYCReveal, kycRoles...)
		s.adminRoute(g, http.MethodGet, "/kyc/licence", "admin.kyc.licence", s.AdminKYCLicence, kycRoles...)
	}
	if s.kyc.invoicing != nil {
		s.adminInvoiceRoutes(g)
	}
}

// AdminKYCQueue lists the verifications waiting for a person's decision.
func (s *Server) AdminKYCQueue(c echo.Context) error {
	ctx := c.Request().Context()
	q, err := s.kyc.verification.ReviewQueue(ctx)
	if err != nil {
		return err
	}
	v := adminview.KYCQueueView{Frame: adminFrame(c, "admin.kyc"), Decided: c.QueryParam("decided")}
	for _, st := range q {
		v.Items = append(v.Items, s.kycItem(ctx, st))
	}
	return Render(c, http.StatusOK, adminview.KYCQueue(v), nil)
}

// AdminKYCDetail shows one verification (?id=) or an account's current one
// (?account=), masked, with its history and the access log.
func (s *Server) AdminKYCDetail(c echo.Context) error {
	v, err := s.kycDetail(c)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, adminview.KYCDetail(v), nil)
}

// AdminKYCDecide approves or rejects (with a reason) a pending verification.
func (s *Server) AdminKYCDecide(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := formID(c)
	if err != nil {
		return err
	}
	approve := c.FormValue("decision") == "approve"
	if !approve && c.FormValue("decision") != "reject" {
		return echo.ErrBadRequest
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	if reason == "" {
		reason = c.FormValue("reason_code")
	}
	if approve {
		reason = ""
	}
	_, err = s.kyc.verification.Decide(ctx, id, approve, reason, staffActor(c))
	if errors.Is(err, verification.ErrReasonRequired) {
		v, verr := s.kycDetail(c)
		if verr != nil {
			return verr
		}
		v.Errors = map[string]string{"reason": i18n.T(ctx, "error.verification.reason_required")}
		return Render(c, http.StatusUnprocessableEntity, adminview.KYCDetail(v), nil)
	}
	if err != nil {
		return err
	}
	return HXRedirect(c, s.URL("admin.kyc")+"?decided="+strconv.FormatInt(id, 10))
}

// AdminKYCReveal shows the full ID number or credit code to a staff member
// whose role is entitled to it; every attempt is written to the access log.
func (s *Server) AdminKYCReveal(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := formID(c)
	if err != nil {
		return err
	}
	u := staffFrom(c)
	number, err := s.kyc.verification.RevealNumber(ctx, id, staffActor(c), roleNames(u.Roles), ClientIP(c))
	if err != nil {
		return err
	}
	v, err := s.kycDetailByID(c, id)
	if err != nil {
		return err
	}
	v.Revealed = number
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return Render(c, http.StatusOK, adminview.KYCDetail(v), adminview.KYCRevealed(number))
}

// AdminKYCLicence sends the business licence file to an entitled role
// (audited like a revealed number).
func (s *Server) AdminKYCLicence(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := queryID(c, "id")
	if err != nil {
		return err
	}
	u := staffFrom(c)
	f, err := s.kyc.verification.Licence(ctx, id, staffActor(c), roleNames(u.Roles), ClientIP(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	c.Response().Header().Set(echo.HeaderContentDisposition, `inline; filename="licence-`+strconv.FormatInt(id, 10)+extFor(f.ContentType)+`"`)
	return c.Blob(http.StatusOK, f.ContentType, f.Data)
}

func (s *Server) kycDetail(c echo.Context) (adminview.KYCDetailView, error) {
	if a := c.QueryParam("account"); a != "" && c.Request().Method == http.MethodGet {
		acct, err := parseID(a)
		if err != nil {
			return adminview.KYCDetailView{}, err
		}
		st, err := s.kyc.verification.Status(c.Request().Context(), acct)
		if err != nil {
			return adminview.KYCDetailView{}, err
		}
		return s.kycDetailOf(c, st)
	}
	var id int64
	var err error
	if c.Request().Method == http.MethodGet {
		id, err = queryID(c, "id")
	} else {
		id, err = formID(c)
	}
	if err != nil {
		return adminview.KYCDetailView{}, err
	}
	return s.kycDetailByID(c, id)
}

func (s *Server) kycDetailByID(c echo.Context, id int64) (adminview.KYCDetailView, error) {
	st, err := s.kyc.verification.Get(c.Request().Context(), id)
	if err != nil {
		return adminview.KYCDetailView{}, err
	}
	return s.kycDetailOf(c, st)
}

func (s *Server) kycDetailOf(c echo.Context, st verification.Status) (adminview.KYCDetailView, error) {
	ctx := c.Request().Context()
	v := adminview.KYCDetailView{Frame: adminFrame(c, "admin.kyc"), Item: s.kycItem(ctx, st)}
	hist, err := s.kyc.verification.History(ctx, st.AccountID)
	if err != nil {
		return v, err
	}
	for _, e := range hist {
		v.History = append(v.History, adminview.KYCEvent{At: e.At, From: string(e.FromState), To: string(e.ToState),
			Reason: s.reasonText(ctx, "error.verification.", e.Reason), Actor: components.ActorLabel(ctx, e.Actor), Reference: e.Reference})
	}
	if st.VerificationID != 0 {
		log, err := s.kyc.verification.AccessLog(ctx, st.VerificationID)
		if err != nil {
			return v, err
		}
		for _, a := range log {
			v.Access = append(v.Access, adminview.KYCAccess{At: a.At, Field: a.Field, Viewer: a.Viewer, Roles: strings.Join(a.ViewerRoles, ","), IP: a.IP, Granted: a.Granted})
		}
	}
	return v, nil
}

func (s *Server) kycItem(ctx context.Context, st verification.Status) adminview.KYCItem {
	it := adminview.KYCItem{ID: st.VerificationID, AccountID: st.AccountID, State: string(st.State), Subject: string(st.Subject), Source: string(st.Source),
		Reason: s.reasonText(ctx, "error.verification.", st.Reason), Reference: st.Reference, Name: st.Name, MaskedNumber: st.MaskedNumber,
		MaskedLegalRep: st.MaskedLegalRep, SubmittedAt: st.SubmittedAt, DecidedAt: st.DecidedAt, DecidedBy: st.DecidedBy, BonusGranted: st.BonusGranted}
	if st.Licence != nil {
		it.LicenceName, it.LicenceType, it.LicenceSize, it.LicenceSHA256 = st.Licence.Filename, st.Licence.ContentType, st.Licence.Size, st.Licence.SHA256
	}
	return it
}

// staffActor names the signed-in staff member in histories and audit logs.
func staffActor(c echo.Context) string {
	u := staffFrom(c)
	return "staff:" + strconv.FormatInt(u.ID, 10) + ":" + u.Login()
}

func roleNames(roles []auth.Role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}

// formID reads the posted id; a missing or malformed one is a bad request.
func formID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.FormValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.ErrBadRequest
	}
	return id, nil
}

// queryID reads an id from the query; a missing or malformed one is a bad request.
func queryID(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.QueryParam(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.ErrBadRequest
	}
	return id, nil
}

func extFor(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "application/pdf":
		return ".pdf"
	}
	return ""
}
