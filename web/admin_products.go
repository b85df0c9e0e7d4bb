package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/products"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminProductRoutes: the one-time product catalogue editor (admins): a new
// product or a draft copied from the version on sale, saved as often as
// needed, then published as the next immutable version (audited).
func (s *Server) adminProductRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/products", "admin.products", s.AdminProducts, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/products", "admin.products.create", s.AdminCreateProduct, auth.RoleAdmin)
	s.adminRoute(g, http.MethodGet, "/products/:code", "admin.product", s.AdminProduct, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/products/:code/draft", "admin.product.draft", s.AdminOpenProductDraft, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/products/drafts/:id", "admin.product.save", s.AdminSaveProductDraft, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/products/drafts/:id/publish", "admin.product.publish", s.AdminPublishProduct, auth.RoleAdmin)
}

// AdminProducts lists the catalogue with the new-product form.
func (s *Server) AdminProducts(c echo.Context) error {
	v, err := s.productsAdminView(c)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, adminview.Products(v), nil)
}

func (s *Server) productsAdminView(c echo.Context) (adminview.ProductsView, error) {
	ctx := c.Request().Context()
	cat, err := s.products.Catalogue(ctx)
	if err != nil {
		return adminview.ProductsView{}, err
	}
	drafts, err := s.products.Drafts(ctx)
	if err != nil {
		return adminview.ProductsView{}, err
	}
	return adminview.ProductsView{Frame: adminFrame(c, "admin.products"), Products: cat, Drafts: drafts,
		New: adminview.ProductForm{Kind: string(products.Feature), RefundDays: strconv.Itoa(products.DefaultRefundDays),
			Days: "0", CreditDays: "0", JobCount: "0", Credits: "0"}}, nil
}

// AdminCreateProduct starts the draft of a new product; every field's
// problem is shown at once, with what was typed kept.
func (s *Server) AdminCreateProduct(c echo.Context) error {
	ctx := c.Request().Context()
	form := productFormOf(c)
	form.Code = strings.TrimSpace(c.FormValue("code"))
	spec, errs := s.readProductForm(c, products.Spec{Code: form.Code}, form)
	if len(errs) == 0 {
		d, err := s.products.CreateDraft(ctx, spec, staffActor(c))
		switch {
		case err == nil:
			if err := s.auditProduct(c, backoffice.ActionProductDrafted, d.Spec, 0); err != nil {
				return err
			}
			return HXRedirect(c, s.URL("admin.product", d.Spec.Code))
		case errors.Is(err, products.ErrCodeTaken):
			errs = adminview.Errors{"code": tr(c, "admin.products.code_taken")}
		case errors.Is(err, products.ErrInvalidProduct):
			errs = s.productRuleErrors(c, err, spec)
		default:
			return err
		}
	}
	v, err := s.productsAdminView(c)
	if err != nil {
		return err
	}
	v.New, v.Errors = form, errs
	return Render(c, http.StatusUnprocessableEntity, adminview.Products(v), nil)
}

// AdminProduct shows one product's versions and its draft.
func (s *Server) AdminProduct(c echo.Context) error {
	v, err := s.productView(c, c.Param("code"))
	if err != nil {
		return err
	}
	if c.QueryParam("done") == "published" {
		v.Flash = tr(c, "admin.products.published_flash")
	}
	return Render(c, http.StatusOK, adminview.Product(v), nil)
}

func (s *Server) productView(c echo.Context, code string) (adminview.ProductView, error) {
	ctx := c.Request().Context()
	versions, err := s.products.Versions(ctx, code)
	if err != nil {
		return adminview.ProductView{}, err
	}
	v := adminview.ProductView{Frame: adminFrame(c, "admin.products"), Code: code, Versions: versions}
	d, err := s.products.DraftOf(ctx, code)
	switch {
	case err == nil:
		v.Draft, v.Form = &d, productForm(d)
	case !errors.Is(err, products.ErrNotFound):
		return v, err
	case len(versions) == 0:
		return v, echo.ErrNotFound
	}
	return v, nil
}

// productForm fills the editor from a draft.
func productForm(d products.Draft) adminview.ProductForm {
	sp := d.Spec
	return adminview.ProductForm{Code: sp.Code, Kind: string(sp.Kind), NameZH: sp.NameZH, NameEN: sp.NameEN,
		DescriptionZH: sp.DescriptionZH, DescriptionEN: sp.DescriptionEN, PriceYuan: decimal.New(sp.PriceFen, -2).StringFixed(2),
		Credits: sp.Credits.String(), CreditDays: strconv.Itoa(sp.CreditDays), JobCount: strconv.Itoa(sp.JobCount),
		Days: strconv.Itoa(sp.EntitlementDays), RefundDays: strconv.Itoa(sp.RefundDays), Revision: strconv.Itoa(d.Revision)}
}

func productFormOf(c echo.Context) adminview.ProductForm {
	v := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	return adminview.ProductForm{Kind: v("kind"), NameZH: v("name_zh"), NameEN: v("name_en"), DescriptionZH: v("description_zh"),
		DescriptionEN: v("description_en"), PriceYuan: v("price"), Credits: v("credits"), CreditDays: v("credit_days"),
		JobCount: v("job_count"), Days: v("days"), RefundDays: v("refund_days"), Revision: v("revision")}
}

// AdminOpenProductDraft starts (or reopens) the product's draft.
func (s *Server) AdminOpenProductDraft(c echo.Context) error {
	code := c.Param("code")
	if _, err := s.products.OpenDraft(c.Request().Context(), code, staffActor(c)); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("admin.product", code))
}

// AdminSaveProductDraft saves the editor; every field's problem is shown
// at once.
func (s *Server) AdminSaveProductDraft(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	d, err := s.products.Draft(ctx, id)
	if err != nil {
		return err
	}
	form := productFormOf(c)
	form.Code, form.Kind = d.Spec.Code, string(d.Spec.Kind) // a version keeps its code and kind
	spec, errs := s.readProductForm(c, d.Spec, form)
	if len(errs) == 0 {
		rev, _ := strconv.Atoi(form.Revision)
		_, err := s.products.SaveDraft(ctx, id, rev, spec, staffActor(c))
		switch {
		case errors.Is(err, products.ErrInvalidProduct):
			errs = s.productRuleErrors(c, err, spec)
		case errors.Is(err, products.ErrStaleDraft):
			errs = adminview.Errors{"form": tr(c, "admin.plans.stale")}
		case err != nil:
			return err
		}
	}
	if len(errs) > 0 {
		v, err := s.productView(c, d.Spec.Code)
		if err != nil {
			return err
		}
		v.Form, v.Errors = form, errs
		return Render(c, http.StatusUnprocessableEntity, adminview.Product(v), nil)
	}
	return HXRedirect(c, s.URL("admin.product", d.Spec.Code))
}

// readProductForm reads the editor over spec, then checks the catalogue's
// rules, so every field's problem is reported at once.
func (s *Server) readProductForm(c echo.Context, spec products.Spec, f adminview.ProductForm) (products.Spec, adminview.Errors) {
	errs := adminview.Errors{}
	spec.Kind, spec.NameZH, spec.NameEN = products.Kind(f.Kind), f.NameZH, f.NameEN
	spec.DescriptionZH, spec.DescriptionEN = f.DescriptionZH, f.DescriptionEN
	whole := func(field, v string, dst *int) {
		n, err := strconv.Atoi(strings.TrimSpace(format.NormalizeDigits(v)))
		if err != nil || n < 0 {
			errs[field] = tr(c, "admin.plans.whole_number")
			return
		}
		*dst = n
	}
	whole("credit_days", f.CreditDays, &spec.CreditDays)
	whole("job_count", f.JobCount, &spec.JobCount)
	whole("days", f.Days, &spec.EntitlementDays)
	whole("refund_days", f.RefundDays, &spec.RefundDays)
	if fen, ok := parseYuan(f.PriceYuan); ok && f.PriceYuan != "" {
		spec.PriceFen = fen
	} else {
		errs["price"] = tr(c, "admin.plans.yuan")
	}
	if d, err := format.ParseDecimal(f.Credits); err == nil && !d.IsNegative() {
		spec.Credits = d
	} else {
		errs["credits"] = tr(c, "admin.plans.credits_invalid")
	}
	for k, v := range s.productRuleErrors(c, products.Validate(spec), spec) {
		if _, ok := errs[k]; !ok {
			errs[k] = v
		}
	}
	return spec, errs
}

// productFields maps a catalogue rule to the editor's field.
var productFields = map[string]string{
	products.CodeBadCode: "code", products.CodeBadDescription: "description_zh", products.CodeBadKind: "kind",
	products.CodeBadPrice: "price", products.CodeBadCredits: "credits", products.CodeBadCreditDays: "credit_days",
	products.CodeBadJobs: "job_count", products.CodeBadDays: "days", products.CodeBadRefundDays: "refund_days",
	products.CodeNoActor: "form",
}

// productRuleErrors says which rules spec breaks, on their fields, in the
// reader's language (admin.products.rule.<code>).
func (s *Server) productRuleErrors(c echo.Context, err error, spec products.Spec) adminview.Errors {
	errs := adminview.Errors{}
	for _, code := range products.ValidationCodes(err) {
		field := productFields[code]
		if code == products.CodeBadName {
			field = "name_en"
			if n := len([]rune(spec.NameZH)); n == 0 || n > 64 {
				field = "name_zh"
			}
		}
		errs[field] = tr(c, "admin.products.rule."+code)
	}
	return errs
}

// AdminPublishProduct publishes the draft as the next version, audited.
func (s *Server) AdminPublishProduct(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	d, err := s.products.Draft(ctx, id)
	if err != nil {
		return err
	}
	p, err := s.products.Publish(ctx, id, staffActor(c))
	switch {
	case err == nil:
		if err := s.auditProduct(c, backoffice.ActionProductPublished, p.Spec, p.Version); err != nil {
			return err
		}
	case errors.Is(err, products.ErrAlreadyPublished):
	case errors.Is(err, products.ErrInvalidProduct), errors.Is(err, products.ErrStaleDraft):
		v, verr := s.productView(c, d.Spec.Code)
		if verr != nil {
			return verr
		}
		v.Errors = s.productRuleErrors(c, err, d.Spec)
		if errors.Is(err, products.ErrStaleDraft) {
			v.Errors = adminview.Errors{"form": tr(c, "admin.plans.stale")}
		}
		return Render(c, http.StatusUnprocessableEntity, adminview.Product(v), nil)
	default:
		return err
	}
	return HXRedirect(c, s.URL("admin.product", d.Spec.Code)+"?done=published")
}

// auditProduct records a catalogue change in the audit log.
func (s *Server) auditProduct(c echo.Context, action backoffice.Action, sp products.Spec, version int) error {
	e := backoffice.Entry{ActorID: staffFrom(c).ID, ActorEmail: staffFrom(c).Email, IP: ClientIP(c), Action: action,
		Detail: map[string]any{"code": sp.Code, "version": version, "kind": sp.Kind, "price_fen": sp.PriceFen,
			"credits": sp.Credits.String(), "refund_days": sp.RefundDays, "entitlement_days": sp.EntitlementDays}}
	_, err := backoffice.Audit(c.Request().Context(), s.Pool, e)
	return err
}
