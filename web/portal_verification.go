package web

import (
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/verification"
	pv "github.com/seed75218f88/credits/views/portal"
)

// kycArea holds the services behind the real-name verification and invoice
// pages of the portal and the back office.
type kycArea struct {
	verification *verification.Service
	invoicing    *invoicing.Service
}

// portalKYCRoutes registers the portal's verification and invoice pages.
func (s *Server) portalKYCRoutes(g *echo.Group) {
	if s.kyc.verification != nil {
		named(g.GET("/verification", s.Verification), "portal.verification")
		named(g.POST("/verification/person", s.SubmitPersonVerification), "portal.verification.person")
		named(g.POST("/verification/company", s.SubmitCompanyVerification), "portal.verification.company")
	}
	if s.kyc.invoicing != nil {
		s.portalInvoiceRoutes(g)
	}
}

// maxLicenceRead bounds how much of an uploaded licence is read; the
// verification service then applies its own (smaller) limit and answers
// licence_too_large.
const maxLicenceRead = 16 << 20

// Verification shows the account's verification state and, when it may
// submit (unverified or rejected), the individual and enterprise forms.
func (s *Server) Verification(c echo.Context) error {
	v, err := s.verificationView(c)
	if err != nil {
		return err
	}
	if cu := customerOf(c); cu.Account.Kind == ledger.AccountEnterprise {
		v.Tab = "enterprise"
	}
	if c.QueryParam("tab") == "enterprise" || c.QueryParam("tab") == "individual" {
		v.Tab = c.QueryParam("tab")
	}
	return Render(c, http.StatusOK, pv.Verification(v), nil)
}

// SubmitPersonVerification submits an individual's name and ID number,
// only with the separate consent to process them (PIPL art. 29): without
// it nothing is stored or sent, and every field's problem is shown with it.
func (s *Server) SubmitPersonVerification(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	form := pv.VerificationForm{Name: strings.TrimSpace(c.FormValue("name")), IDNumber: strings.TrimSpace(c.FormValue("id_number"))}
	id := format.NormalizeDigits(form.IDNumber)
	if err := s.sensitiveConsent(c, &form, s.kyc.verification.CheckPerson(form.Name, id)); err != nil {
		return s.verificationRefused(c, err, "individual", form)
	}
	if _, err := s.kyc.verification.SubmitPerson(ctx, cu.Account.ID, form.Name, id); err != nil {
		return s.verificationRefused(c, err, "individual", form)
	}
	return HXRedirect(c, s.URL("portal.verification"))
}

// sensitiveConsent records the separate consent to process sensitive
// personal information when it was given, before anything is collected;
// without it, it returns the form's field errors (checked, the consent's
// among them).
func (s *Server) sensitiveConsent(c echo.Context, form *pv.VerificationForm, checked error) error {
	form.Consent = c.FormValue("consent_sensitive_pi") == "yes"
	if form.Consent {
		cu := customerOf(c)
		return s.portal.auth.RecordConsent(c.Request().Context(), cu.User.ID, auth.ConsentSensitivePI, LegalVersion, ClientIP(c))
	}
	errs := fielderr.New("verification")
	errs.Merge(checked)
	errs.Add("consent_sensitive_pi", "consent_sensitive_pi_required")
	return errs
}

// SubmitCompanyVerification submits an enterprise with its business licence.
func (s *Server) SubmitCompanyVerification(c echo.Context) error {
	ctx := c.Request().Context()
	cu := customerOf(c)
	form := pv.VerificationForm{CompanyName: strings.TrimSpace(c.FormValue("company_name")), LegalRep: strings.TrimSpace(c.FormValue("legal_rep")),
		CreditCode: strings.TrimSpace(c.FormValue("credit_code"))}
	data, filename, err := readUpload(c, "licence", maxLicenceRead)
	if err != nil {
		return err
	}
	if err := s.sensitiveConsent(c, &form, s.kyc.verification.CheckCompany(form.CompanyName, form.CreditCode, form.LegalRep, data)); err != nil {
		return s.verificationRefused(c, err, "enterprise", form)
	}
	_, err = s.kyc.verification.SubmitCompany(ctx, cu.Account.ID, form.CompanyName, form.CreditCode, form.LegalRep, data, filename)
	if err != nil {
		return s.verificationRefused(c, err, "enterprise", form)
	}
	return HXRedirect(c, s.URL("portal.verification"))
}

// verificationRefused re-renders the form with the message of every failed
// field (an identity already in use is one, on its number); other errors go
// to the error table.
func (s *Server) verificationRefused(c echo.Context, err error, tab string, form pv.VerificationForm) error {
	errs, status, ok := s.fieldErrors(c, err)
	if !ok {
		return err
	}
	v, verr := s.verificationView(c)
	if verr != nil {
		return verr
	}
	v.Tab, v.Form, v.Errors = tab, form, errs
	// The form carries the number as typed: keep it out of every cache.
	c.Response().Header().Set("Cache-Control", "no-store")
	return Render(c, status, pv.Verification(v), nil)
}

func (s *Server) verificationView(c echo.Context) (pv.VerificationView, error) {
	ctx := c.Request().Context()
	cu := customerOf(c)
	st, err := s.kyc.verification.Status(ctx, cu.Account.ID)
	if err != nil {
		return pv.VerificationView{}, err
	}
	hist, err := s.kyc.verification.History(ctx, cu.Account.ID)
	if err != nil {
		return pv.VerificationView{}, err
	}
	v := pv.VerificationView{Frame: s.frame(c, "portal.verification"), Tab: "individual", Status: s.verificationStatusView(ctx, st)}
	for _, e := range hist {
		v.History = append(v.History, pv.VerificationEvent{At: e.At, State: string(e.ToState), Reason: s.reasonText(ctx, "error.verification.", e.Reason)})
	}
	return v, nil
}

// verificationStatusView turns a (masked) status into what pages show.
func (s *Server) verificationStatusView(ctx context.Context, st verification.Status) pv.VerificationStatus {
	v := pv.VerificationStatus{
		ID: st.VerificationID, AccountID: st.AccountID, State: string(st.State), Subject: string(st.Subject), Source: string(st.Source),
		Reason: s.reasonText(ctx, "error.verification.", st.Reason), Reference: st.Reference,
		Name: st.Name, MaskedNumber: st.MaskedNumber, MaskedLegalRep: st.MaskedLegalRep,
		SubmittedAt: st.SubmittedAt, DecidedAt: st.DecidedAt, DecidedBy: st.DecidedBy, BonusGranted: st.BonusGranted,
	}
	if st.Licence != nil {
		v.LicenceName, v.LicenceType, v.LicenceSize, v.LicenceSHA256 = st.Licence.Filename, st.Licence.ContentType, st.Licence.Size, st.Licence.SHA256
	}
	return v
}

// reasonText localizes a reason code (name_mismatch, …) and shows a
// reviewer's free text as written.
func (s *Server) reasonText(ctx context.Context, prefix, reason string) string {
	if reason == "" {
		return ""
	}
	if s.I18n.Has(prefix + reason) {
		return i18n.T(ctx, prefix+reason)
	}
	return reason
}

// readUpload reads the named multipart file, at most limit bytes plus one
// (so the domain can tell "too large"); no file gives nil data.
func readUpload(c echo.Context, field string, limit int64) ([]byte, string, error) {
	fh, err := c.FormFile(field)
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", echo.NewHTTPError(http.StatusBadRequest).SetInternal(err)
	}
	return readFileHeader(fh, limit)
}

func readFileHeader(fh *multipart.FileHeader, limit int64) ([]byte, string, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, "", err
	}
	return data, fh.Filename, nil
}
