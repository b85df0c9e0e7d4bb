package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/format"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminPlanRoutes: the plan catalogue editor (admins): a draft copied from
// the version in force, saved as often as needed, then published as the
// next immutable version (audited).
func (s *Server) adminPlanRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/plans", "admin.plans", s.AdminPlans, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/plans", "admin.plans.create", s.AdminCreatePlan, auth.RoleAdmin)
	s.adminRoute(g, http.MethodGet, "/plans/:code", "admin.plan", s.AdminPlan, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/plans/:code/draft", "admin.plan.draft", s.AdminOpenPlanDraft, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/plans/drafts/:id", "admin.plan.save", s.AdminSavePlanDraft, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/plans/drafts/:id/publish", "admin.plan.publish", s.AdminPublishPlan, auth.RoleAdmin)
}

// AdminPlans lists the catalogue.
func (s *Server) AdminPlans(c echo.Context) error {
	v, err := s.plansAdminView(c)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, adminview.Plans(v), nil)
}

// plansAdminView is the catalogue with its drafts, the drafts of plans not
// yet published listed on their own (by code), and an empty new-plan form.
func (s *Server) plansAdminView(c echo.Context) (adminview.PlansView, error) {
	ctx := c.Request().Context()
	cat, err := s.plans.catalogue.Catalogue(ctx)
	if err != nil {
		return adminview.PlansView{}, err
	}
	drafts, err := s.plans.catalogue.Drafts(ctx)
	if err != nil {
		return adminview.PlansView{}, err
	}
	v := adminview.PlansView{Frame: adminFrame(c, "admin.plans"), Plans: cat, Drafts: map[string]plans.Draft{},
		New: adminview.PlanForm{Tier: "0", RPM: "0", TPM: "0"}}
	for _, d := range drafts {
		v.Drafts[d.Spec.Code] = d
		if d.BasedOn == 0 {
			v.Unpublished = append(v.Unpublished, d)
		}
	}
	slices.SortFunc(v.Unpublished, func(a, b plans.Draft) int { return strings.Compare(a.Spec.Code, b.Spec.Code) })
	return v, nil
}

// AdminCreatePlan starts the draft of a new plan, to be published from its
// page like any draft; every field's problem is shown at once, with what
// was typed kept.
func (s *Server) AdminCreatePlan(c echo.Context) error {
	form := planFormOf(c)
	form.Code = strings.TrimSpace(c.FormValue("code"))
	spec, errs := s.readPlanForm(c, plans.Spec{Code: form.Code}, form)
	if !plans.ValidCode(form.Code) {
		errs["code"] = tr(c, "admin.plans.rule.code")
	}
	if len(errs) == 0 {
		d, err := s.plans.catalogue.CreateDraft(c.Request().Context(), spec, staffActor(c))
		var ve *plans.ValidationError
		switch {
		case err == nil:
			return HXRedirect(c, s.URL("admin.plan", d.Spec.Code))
		case errors.Is(err, plans.ErrCodeTaken):
			errs = adminview.Errors{"code": tr(c, "admin.plans.code_taken")}
		case errors.As(err, &ve):
			errs = adminview.Errors{"form": planRuleText(c, ve)}
		default:
			return err
		}
	}
	v, err := s.plansAdminView(c)
	if err != nil {
		return err
	}
	v.New, v.Errors = form, errs
	return Render(c, http.StatusUnprocessableEntity, adminview.Plans(v), nil)
}

// AdminPlan shows one plan's versions and its draft.
func (s *Server) AdminPlan(c echo.Context) error {
	v, err := s.planView(c, c.Param("code"))
	if err != nil {
		return err
	}
	if c.QueryParam("done") == "published" {
		v.Flash = tr(c, "admin.plans.published_flash")
	}
	return Render(c, http.StatusOK, adminview.Plan(v), nil)
}

func (s *Server) planView(c echo.Context, code string) (adminview.PlanView, error) {
	ctx := c.Request().Context()
	versions, err := s.plans.catalogue.Versions(ctx, code)
	if err != nil {
		return adminview.PlanView{}, err
	}
	v := adminview.PlanView{Frame: adminFrame(c, "admin.plans"), Code: code, Versions: versions}
	drafts, err := s.plans.catalogue.Drafts(ctx)
	if err != nil {
		return v, err
	}
	for _, d := range drafts {
		if d.Spec.Code == code {
			v.Draft = &d
			v.Form = planForm(d)
		}
	}
	if len(versions) == 0 && v.Draft == nil { // a new plan's page lives from its draft on
		return adminview.PlanView{}, echo.ErrNotFound
	}
	return v, nil
}

// planForm fills the editor from a draft.
func planForm(d plans.Draft) adminview.PlanForm {
	features := make([]string, len(d.Spec.Features))
	for i, f := range d.Spec.Features {
		features[i] = f.ZH + " | " + f.EN
	}
	return adminview.PlanForm{NameZH: d.Spec.NameZH, NameEN: d.Spec.NameEN, Tier: strconv.Itoa(d.Spec.Tier),
		MonthlyYuan: decimal.New(d.Spec.MonthlyPriceFen, -2).StringFixed(2), YearlyYuan: decimal.New(d.Spec.YearlyPriceFen, -2).StringFixed(2),
		Credits: d.Spec.MonthlyCredits.String(), RPM: strconv.Itoa(d.Spec.RPM), TPM: strconv.FormatInt(d.Spec.TPM, 10),
		Items: plans.FormatItems(d.Spec.Items), Features: strings.Join(features, "\n"), Revision: strconv.Itoa(d.Revision)}
}

// AdminOpenPlanDraft starts (or reopens) the plan's draft.
func (s *Server) AdminOpenPlanDraft(c echo.Context) error {
	code := c.Param("code")
	if _, err := s.plans.catalogue.OpenDraft(c.Request().Context(), code, staffActor(c)); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("admin.plan", code))
}

// AdminSavePlanDraft saves the editor; every field's problem is shown at
// once, with what was typed kept.
func (s *Server) AdminSavePlanDraft(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	d, err := s.plans.catalogue.Draft(ctx, id)
	if err != nil {
		return err
	}
	form := planFormOf(c)
	spec, errs := s.readPlanForm(c, d.Spec, form)
	if len(errs) == 0 {
		rev, _ := strconv.Atoi(form.Revision)
		if _, err := s.plans.catalogue.SaveDraft(ctx, id, rev, spec, staffActor(c)); err != nil {
			var ve *plans.ValidationError
			switch {
			case errors.As(err, &ve):
				errs = adminview.Errors{"form": planRuleText(c, ve)}
			case errors.Is(err, plans.ErrStaleDraft):
				errs = adminview.Errors{"form": tr(c, "admin.plans.stale")}
			default:
				return err
			}
		}
	}
	if len(errs) > 0 {
		v, err := s.planView(c, d.Spec.Code)
		if err != nil {
			return err
		}
		v.Form, v.Errors = form, errs
		return Render(c, http.StatusUnprocessableEntity, adminview.Plan(v), nil)
	}
	return HXRedirect(c, s.URL("admin.plan", d.Spec.Code))
}

// planFormOf is the plan editor's fields as typed (a new plan's code aside).
func planFormOf(c echo.Context) adminview.PlanForm {
	return adminview.PlanForm{NameZH: strings.TrimSpace(c.FormValue("name_zh")), NameEN: strings.TrimSpace(c.FormValue("name_en")),
		Tier: c.FormValue("tier"), MonthlyYuan: c.FormValue("monthly"), YearlyYuan: c.FormValue("yearly"), Credits: c.FormValue("credits"),
		RPM: c.FormValue("rpm"), TPM: c.FormValue("tpm"), Items: c.FormValue("items"), Features: c.FormValue("features"), Revision: c.FormValue("revision")}
}

// readPlanForm reads the editor over the draft's spec (its code stays).
func (s *Server) readPlanForm(c echo.Context, spec plans.Spec, f adminview.PlanForm) (plans.Spec, adminview.Errors) {
	errs := adminview.Errors{}
	spec.NameZH, spec.NameEN = f.NameZH, f.NameEN
	whole := func(field, v string, dst func(int64)) {
		n, err := strconv.ParseInt(strings.TrimSpace(format.NormalizeDigits(v)), 10, 64)
		if err != nil || n < 0 {
			errs[field] = tr(c, "admin.plans.whole_number")
			return
		}
		dst(n)
	}
	whole("tier", f.Tier, func(n int64) { spec.Tier = int(n) })
	whole("rpm", f.RPM, func(n int64) { spec.RPM = int(n) })
	whole("tpm", f.TPM, func(n int64) { spec.TPM = n })
	for _, p := range []struct {
		field, v string
		dst      *int64
	}{{"monthly", f.MonthlyYuan, &spec.MonthlyPriceFen}, {"yearly", f.YearlyYuan, &spec.YearlyPriceFen}} {
		fen, ok := parseYuan(p.v)
		if !ok || strings.TrimSpace(p.v) == "" {
			errs[p.field] = tr(c, "admin.plans.yuan")
			continue
		}
		*p.dst = fen
	}
	if d, err := format.ParseDecimal(f.Credits); err != nil || d.IsNegative() {
		errs["credits"] = tr(c, "admin.plans.credits_invalid")
	} else {
		spec.MonthlyCredits = d
	}
	items, err := plans.ParseItems(f.Items)
	if err != nil {
		errs["items"] = tr(c, "admin.plans.items_invalid") + " " + err.Error()
	} else {
		spec.Items = items
	}
	spec.Features = nil
	for _, line := range strings.Split(f.Features, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		zh, en, ok := strings.Cut(line, "|")
		if !ok {
			errs["features"] = tr(c, "admin.plans.features_invalid")
			break
		}
		spec.Features = append(spec.Features, plans.Feature{ZH: strings.TrimSpace(zh), EN: strings.TrimSpace(en)})
	}
	return spec, errs
}

// AdminPublishPlan publishes the draft as the next version and records it
// in the audit log.
func (s *Server) AdminPublishPlan(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	d, err := s.plans.catalogue.Draft(ctx, id)
	if err != nil {
		return err
	}
	p, err := s.plans.catalogue.Publish(ctx, id, staffActor(c))
	if err != nil {
		var ve *plans.ValidationError
		if errors.As(err, &ve) || errors.Is(err, plans.ErrStaleDraft) {
			v, verr := s.planView(c, d.Spec.Code)
			if verr != nil {
				return verr
			}
			msg := tr(c, "admin.plans.stale")
			if ve != nil {
				msg = planRuleText(c, ve)
			}
			v.Errors = adminview.Errors{"form": msg}
			return Render(c, http.StatusUnprocessableEntity, adminview.Plan(v), nil)
		}
		if !errors.Is(err, plans.ErrAlreadyPublished) {
			return err
		}
	} else {
		// The version itself records who published it and when; the audit
		// log lists it with the other admin actions.
		e := backoffice.Entry{ActorID: staffFrom(c).ID, ActorEmail: staffFrom(c).Email, IP: ClientIP(c), Action: backoffice.ActionPlanPublished,
			Detail: map[string]any{"code": p.Code, "version": p.Version, "monthly_price_fen": p.MonthlyPriceFen, "yearly_price_fen": p.YearlyPriceFen}}
		if _, err := backoffice.Audit(ctx, s.Pool, e); err != nil {
			return err
		}
	}
	return HXRedirect(c, s.URL("admin.plan", d.Spec.Code)+"?done=published")
}

// planRuleText says which catalogue rule a draft breaks, in the reader's
// language (admin.plans.rule.<code>).
func planRuleText(c echo.Context, ve *plans.ValidationError) string {
	return tr(c, "admin.plans.invalid") + " " + tr(c, "admin.plans.rule."+strings.ReplaceAll(ve.Code, ".", "_"))
}
