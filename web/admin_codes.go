package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// adminCodeRoutes: redemption code batches (兑换码), for finance and admins.
func (s *Server) adminCodeRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/codes", "admin.codes", s.AdminCodes, auth.RoleFinance, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/codes", "admin.codes.generate", s.AdminGenerateCodes, auth.RoleFinance, auth.RoleAdmin)
}

// AdminCodes lists the batches and the generate form.
func (s *Server) AdminCodes(c echo.Context) error {
	v, err := s.codesView(c)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, adminview.Codes(v), nil)
}

func (s *Server) codesView(c echo.Context) (adminview.CodesView, error) {
	v := adminview.CodesView{Frame: adminFrame(c, "admin.codes"), Errors: adminview.Errors{}}
	batches, err := s.admin.bo.Batches(c.Request().Context(), 100)
	if err != nil {
		return v, err
	}
	for _, b := range batches {
		v.Batches = append(v.Batches, adminview.BatchRow{ID: b.ID, Campaign: b.Campaign, Amount: b.Amount, Count: b.Count,
			Redeemed: b.Redeemed, CodeExpiresAt: b.CodeExpiresAt, CreatedBy: b.CreatedByEmail, CreatedAt: b.CreatedAt, OnePerCustomer: b.OnePerCustomer,
			Plan: b.PlanCode, PlanDays: b.PlanDays})
	}
	v.Form.Plans, err = s.planChoices(c)
	return v, err
}

// planChoices are the catalogue's plans, for a plan redemption batch.
func (s *Server) planChoices(c echo.Context) ([]adminview.PlanChoice, error) {
	cat, err := s.plans.catalogue.Catalogue(c.Request().Context())
	if err != nil {
		return nil, err
	}
	en := i18n.Lang(c.Request().Context()) == "en"
	out := make([]adminview.PlanChoice, len(cat))
	for i, p := range cat {
		out[i] = adminview.PlanChoice{Code: p.Code, Name: planName(p, en)}
	}
	return out, nil
}

// AdminGenerateCodes generates a batch and shows its codes this once, with
// the CSV inline as a data: link (the codes are stored only as hashes, so
// the download works only from this response).
func (s *Server) AdminGenerateCodes(c echo.Context) error {
	v, err := s.codesView(c)
	if err != nil {
		return err
	}
	f := adminview.BatchForm{Campaign: strings.TrimSpace(c.FormValue("campaign")), Amount: strings.TrimSpace(c.FormValue("amount")),
		Count: strings.TrimSpace(c.FormValue("count")), LotDays: strings.TrimSpace(c.FormValue("lot_days")),
		CodeExpires: strings.TrimSpace(c.FormValue("code_expires")), OnePerCustomer: c.FormValue("one_per_customer") != "",
		Plan: strings.TrimSpace(c.FormValue("plan")), PlanDays: strings.TrimSpace(c.FormValue("plan_days")), Plans: v.Form.Plans}
	req := backoffice.BatchRequest{Campaign: f.Campaign, OnePerCustomer: f.OnePerCustomer, Actor: actor(c), PlanCode: f.Plan}
	if f.Plan != "" {
		// A plan batch: each code grants the plan for so many days, no credits.
		if !slices.ContainsFunc(f.Plans, func(p adminview.PlanChoice) bool { return p.Code == f.Plan }) {
			v.Errors["plan"] = tr(c, "error.field.redeem_plan_unknown")
		}
		if req.PlanDays, err = strconv.Atoi(f.PlanDays); err != nil || req.PlanDays < 1 || req.PlanDays > plans.MaxCompDays {
			v.Errors["plan_days"] = tr(c, "error.field.redeem_plan_days")
		}
		if f.Amount != "" && f.Amount != "0" {
			v.Errors["amount"] = tr(c, "admin.codes.plan_no_amount")
		}
		if f.LotDays != "" {
			v.Errors["lot_days"] = tr(c, "admin.codes.plan_no_amount")
		}
	} else if req.Amount, err = format.ParseDecimal(f.Amount); err != nil {
		v.Errors["amount"] = tr(c, "error.admin.invalid_amount")
	}
	if req.Count, err = strconv.Atoi(f.Count); err != nil || req.Count <= 0 || req.Count > backoffice.MaxBatchCount {
		v.Errors["count"] = tr(c, "error.admin.invalid_batch")
	}
	if f.LotDays != "" {
		if req.LotExpiresDays, err = strconv.Atoi(f.LotDays); err != nil || req.LotExpiresDays <= 0 {
			v.Errors["lot_days"] = tr(c, "error.admin.invalid_expiry")
		}
	}
	if f.CodeExpires != "" {
		t, ok := endOfDay(f.CodeExpires)
		if !ok || !t.After(time.Now()) {
			v.Errors["code_expires"] = tr(c, "error.admin.invalid_expiry")
		}
		req.CodeExpiresAt = &t
	}
	v.Form = f
	if len(v.Errors) == 0 {
		gen, err := s.admin.bo.GenerateBatch(c.Request().Context(), req)
		if err == nil {
			v.Generated = &adminview.GeneratedView{Campaign: gen.Batch.Campaign, Amount: gen.Batch.Amount, Codes: gen.Codes, CSV: gen.CSV}
			v.Form = adminview.BatchForm{Plans: f.Plans}
			if v2, err := s.codesView(c); err == nil {
				v.Batches = v2.Batches
			}
			c.Response().Header().Set("Cache-Control", "no-store")
			return Render(c, http.StatusOK, adminview.Codes(v), nil)
		}
		errs, _, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		if msg, ok := errs[""]; ok {
			errs = adminview.Errors{"campaign": msg}
		}
		v.Errors = errs
	}
	return Render(c, http.StatusUnprocessableEntity, adminview.Codes(v), nil)
}
