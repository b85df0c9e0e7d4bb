package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/usage"
	pv "github.com/seed75218f88/credits/views/portal"
)

// requireEnterprise answers 404 to anyone but an enterprise owner.
func requireEnterprise(c echo.Context) (customer, error) {
	cu := customerOf(c)
	if cu.Account.Kind != ledger.AccountEnterprise {
		return cu, echo.ErrNotFound
	}
	return cu, nil
}

// monthStart is the first day of the current month in Asia/Shanghai.
func monthStart() time.Time {
	d := usage.Day(time.Now())
	return d.AddDate(0, 0, 1-d.Day())
}

// SubAccounts shows an enterprise's pool and its sub-accounts (departments)
// with their allocation, limits and spend, and the form to add one.
func (s *Server) SubAccounts(c echo.Context) error {
	cu, err := requireEnterprise(c)
	if err != nil {
		return err
	}
	return s.renderSubAccounts(c, cu, http.StatusOK, pv.SubAccountForm{})
}

func (s *Server) renderSubAccounts(c echo.Context, cu customer, status int, form pv.SubAccountForm) error {
	ctx := c.Request().Context()
	bal, err := s.portal.ledger.Balance(ctx, cu.Account.ID)
	if err != nil {
		return err
	}
	subs, err := s.portal.usage.SubAccounts(ctx, cu.Account.ID, monthStart())
	if err != nil {
		return err
	}
	ids := make([]int64, len(subs))
	for i, a := range subs {
		ids[i] = a.ID
	}
	limits, err := s.accountLimits().Of(ctx, ids)
	if err != nil {
		return err
	}
	v := pv.SubAccountsView{Frame: s.frame(c, "portal.accounts"), Pool: bal.Available, Form: form}
	for _, a := range subs {
		v.Accounts = append(v.Accounts, subRow(a, limits[a.ID]))
	}
	return Render(c, status, pv.SubAccounts(v), nil)
}

// accountLimits is where sub-accounts' rate limits live: the gateway's
// store, the one the API enforces (a portal built without the gateway
// still writes there).
func (s *Server) accountLimits() *gateway.LimitStore {
	if s.Gateway != nil {
		return s.Gateway.Limits
	}
	return gateway.NewLimitStore(s.Pool)
}

func subRow(a usage.SubAccount, l gateway.Limits) pv.SubAccountRow {
	return pv.SubAccountRow{ID: a.ID, Name: a.Name, Status: a.Status, Allocation: a.Allocation, RPM: narrow(l.RPM), TPM: narrow(l.TPM),
		Spent: a.Spent, SpentMonth: a.SpentSince}
}

func narrow(v *int64) *int {
	if v == nil {
		return nil
	}
	n := int(*v)
	return &n
}

// readSubForm reads name, allocation (credits, empty = no limit), rpm and
// tpm (empty = the default); problems go into the form's Errors.
func readSubForm(c echo.Context, withName bool) (pv.SubAccountForm, *decimal.Decimal, gateway.Limits) {
	f := pv.SubAccountForm{Name: strings.TrimSpace(c.FormValue("name")), Allocation: strings.TrimSpace(c.FormValue("allocation")),
		RPM: strings.TrimSpace(c.FormValue("rpm")), TPM: strings.TrimSpace(c.FormValue("tpm")), Errors: map[string]string{}}
	if withName && (f.Name == "" || len([]rune(f.Name)) > 100) {
		f.Errors["name"] = tr(c, "form.sub.name_invalid")
	}
	var alloc *decimal.Decimal
	if f.Allocation != "" {
		d, err := decimal.NewFromString(strings.ReplaceAll(f.Allocation, ",", ""))
		if err != nil || d.IsNegative() {
			f.Errors["allocation"] = tr(c, "form.sub.allocation_invalid")
		} else {
			alloc = &d
		}
	}
	var lim gateway.Limits
	for _, p := range []struct {
		field, val string
		dst        **int64
	}{{"rpm", f.RPM, &lim.RPM}, {"tpm", f.TPM, &lim.TPM}} {
		if p.val == "" {
			continue
		}
		n, err := strconv.ParseInt(p.val, 10, 32)
		if err != nil || n < 0 {
			f.Errors[p.field] = tr(c, "form.sub.limit_invalid")
			continue
		}
		*p.dst = &n
	}
	return f, alloc, lim
}

// CreateSubAccount adds a department with its allocation and limits.
func (s *Server) CreateSubAccount(c echo.Context) error {
	cu, err := requireEnterprise(c)
	if err != nil {
		return err
	}
	f, alloc, lim := readSubForm(c, true)
	if len(f.Errors) > 0 {
		return s.renderSubAccounts(c, cu, http.StatusUnprocessableEntity, f)
	}
	ctx := c.Request().Context()
	acc, err := s.portal.ledger.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountSub, ParentID: cu.Account.ID, Mode: cu.Account.Mode, Name: f.Name, Allocation: alloc})
	if err != nil {
		return err
	}
	if err := s.accountLimits().Set(ctx, acc.ID, lim); err != nil {
		return err
	}
	return HXRedirect(c, s.URL("portal.account", acc.ID))
}

// subAccountOf finds a sub-account of the signed-in enterprise by the URL's
// id; any other id is not found.
func (s *Server) subAccountOf(c echo.Context) (customer, usage.SubAccount, error) {
	cu, err := requireEnterprise(c)
	if err != nil {
		return cu, usage.SubAccount{}, err
	}
	id, err := parseID(c.Param("id"))
	if err != nil {
		return cu, usage.SubAccount{}, err
	}
	sub, err := s.portal.usage.SubAccount(c.Request().Context(), cu.Account.ID, id, monthStart())
	return cu, sub, err
}

// SubAccountPage shows one department: spend, allocation and limits.
func (s *Server) SubAccountPage(c echo.Context) error {
	_, sub, err := s.subAccountOf(c)
	if err != nil {
		return err
	}
	return s.renderSubAccount(c, http.StatusOK, sub, pv.SubAccountForm{}, false)
}

func (s *Server) renderSubAccount(c echo.Context, status int, sub usage.SubAccount, f pv.SubAccountForm, saved bool) error {
	lim, err := s.accountLimits().Get(c.Request().Context(), sub.ID)
	if err != nil {
		return err
	}
	if f.Errors == nil {
		if sub.Allocation != nil {
			f.Allocation = sub.Allocation.String()
		}
		if lim.RPM != nil {
			f.RPM = strconv.FormatInt(*lim.RPM, 10)
		}
		if lim.TPM != nil {
			f.TPM = strconv.FormatInt(*lim.TPM, 10)
		}
	}
	v := pv.SubAccountView{Frame: s.frame(c, "portal.accounts"), Account: subRow(sub, lim), Form: f, Saved: saved,
		UsageURL: s.URL("portal.usage") + "?account=" + strconv.FormatInt(sub.ID, 10)}
	return Render(c, status, pv.SubAccount(v), nil)
}

// UpdateSubAccount changes a department's allocation and limits.
func (s *Server) UpdateSubAccount(c echo.Context) error {
	cu, sub, err := s.subAccountOf(c)
	if err != nil {
		return err
	}
	f, alloc, lim := readSubForm(c, false)
	if len(f.Errors) > 0 {
		return s.renderSubAccount(c, http.StatusUnprocessableEntity, sub, f, false)
	}
	ctx := c.Request().Context()
	if err := s.portal.ledger.SetAllocation(ctx, sub.ID, alloc, "user:"+strconv.FormatInt(cu.User.ID, 10), "portal_allocation"); err != nil {
		return err
	}
	if err := s.accountLimits().Set(ctx, sub.ID, lim); err != nil {
		return err
	}
	sub, err = s.portal.usage.SubAccount(ctx, cu.Account.ID, sub.ID, monthStart())
	if err != nil {
		return err
	}
	return s.renderSubAccount(c, http.StatusOK, sub, pv.SubAccountForm{}, true)
}
