package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
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
// with their allocation, limits and spend, the form that moves allocation
// between them and the form to add one.
func (s *Server) SubAccounts(c echo.Context) error {
	cu, err := requireEnterprise(c)
	if err != nil {
		return err
	}
	return s.renderSubAccounts(c, cu, http.StatusOK, pv.SubAccountForm{})
}

func (s *Server) renderSubAccounts(c echo.Context, cu customer, status int, form pv.SubAccountForm) error {
	v, _, err := s.subAccountsView(c, cu)
	if err != nil {
		return err
	}
	v.Form = form
	return Render(c, status, pv.SubAccounts(v), nil)
}

// subAccountsView is the sub-accounts page with an empty transfer form,
// and the sub-accounts by id.
func (s *Server) subAccountsView(c echo.Context, cu customer) (pv.SubAccountsView, map[string]usage.SubAccount, error) {
	ctx := c.Request().Context()
	bal, err := s.portal.ledger.Balance(ctx, cu.Account.ID)
	if err != nil {
		return pv.SubAccountsView{}, nil, err
	}
	subs, err := s.portal.usage.SubAccounts(ctx, cu.Account.ID, monthStart())
	if err != nil {
		return pv.SubAccountsView{}, nil, err
	}
	ids := make([]int64, len(subs))
	for i, a := range subs {
		ids[i] = a.ID
	}
	limits, err := s.accountLimits().Of(ctx, ids)
	if err != nil {
		return pv.SubAccountsView{}, nil, err
	}
	v := pv.SubAccountsView{Frame: s.frame(c, "portal.accounts"), Pool: bal.Available,
		Transferred: c.QueryParam("transferred") != "",
		Transfer:    pv.TransferForm{Key: uuid.NewString(), Errors: map[string]string{}}}
	byID := make(map[string]usage.SubAccount, len(subs))
	for _, a := range subs {
		if !cu.sees(a.ID) {
			continue
		}
		v.Accounts = append(v.Accounts, subRow(a, limits[a.ID]))
		id := strconv.FormatInt(a.ID, 10)
		byID[id] = a
		if a.Allocation != nil {
			v.Transfer.Choices = append(v.Transfer.Choices, pv.Option{Value: id,
				Label: a.Name + " #" + id + " · " + format.Credits(*a.Allocation)})
		}
	}
	return v, byID, nil
}

// TransferAllocation moves allocation from one of the enterprise's
// sub-accounts to another (POST /portal/accounts/transfers). Both must be
// its own and have a limit (the form offers only those); every field's
// problem is shown at once, in the customer's language (422; the form
// alone for htmx); then backoffice.Transfer moves it and audits it, and
// the page is shown again with the new allocations.
func (s *Server) TransferAllocation(c echo.Context) error {
	cu, err := requireEnterprise(c)
	if err != nil {
		return err
	}
	v, subs, err := s.subAccountsView(c, cu)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	f := &v.Transfer
	f.From, f.To = strings.TrimSpace(c.FormValue("from")), strings.TrimSpace(c.FormValue("to"))
	f.Amount, f.Key = strings.TrimSpace(c.FormValue("amount")), c.FormValue("idempotency_key")
	from, okFrom := subs[f.From]
	to, okTo := subs[f.To]
	if !okFrom || from.Allocation == nil {
		f.Errors["from"] = tr(c, "form.transfer.from_invalid")
	}
	switch {
	case !okTo || to.Allocation == nil:
		f.Errors["to"] = tr(c, "form.transfer.to_invalid")
	case f.To == f.From:
		f.Errors["to"] = tr(c, "error.admin.transfer_same_account")
	}
	amount, err := format.ParseDecimal(f.Amount)
	switch {
	case f.Amount == "":
		f.Errors["amount"] = tr(c, "form.transfer.amount_required")
	case err != nil || !amount.IsPositive() || !ledger.Round(amount).Equal(amount) || amount.GreaterThan(backoffice.MaxTransferCredits):
		f.Errors["amount"] = tr(c, "form.transfer.amount_invalid")
	case okFrom && from.Allocation != nil && amount.GreaterThan(*from.Allocation):
		f.Errors["amount"] = transferMax(c, from.Name, *from.Allocation)
	}
	if len(f.Errors) == 0 {
		_, err = s.admin.bo.Transfer(ctx, backoffice.TransferRequest{From: from.ID, To: to.ID, Amount: amount,
			Enterprise: cu.Account.ID, IdempotencyKey: "portal:" + f.Key, ActorKind: backoffice.ActorCustomer,
			ActorEmail: cu.User.Login(), LedgerActor: "user:" + strconv.FormatInt(cu.User.ID, 10), IP: ClientIP(c),
			Reason: "portal_transfer"})
		if err == nil {
			return HXRedirect(c, s.URL("portal.accounts")+"?transferred=1")
		}
		if err := s.transferRefused(c, err, f, from); err != nil {
			return err
		}
	}
	return Render(c, http.StatusUnprocessableEntity, pv.SubAccounts(v), pv.TransferFormPart(v.Transfer))
}

// transferRefused puts a refusal of backoffice.Transfer on its field, or
// returns any other error to the error table.
func (s *Server) transferRefused(c echo.Context, err error, f *pv.TransferForm, from usage.SubAccount) error {
	var short *ledger.ShortfallError
	var be *backoffice.Error
	switch {
	case errors.As(err, &short) && errors.Is(err, ledger.ErrAllocationExceeded):
		// Another transfer or a charge took it meanwhile.
		f.Errors["amount"] = transferMax(c, from.Name, short.Available)
	case errors.Is(err, ledger.ErrCrossEnterpriseTransfer):
		f.Errors["to"] = tr(c, s.LookupError(err).Key)
	case errors.Is(err, ledger.ErrIdempotencyConflict):
		f.Errors["form"] = tr(c, "form.transfer.resubmitted")
		f.Key = uuid.NewString()
	case errors.Is(err, fielderr.ErrInvalid):
		errs, _, _ := s.fieldErrors(c, err)
		for field, msg := range errs {
			if field == "" {
				field = "form"
			}
			f.Errors[field] = msg
		}
	case errors.As(err, &be):
		f.Errors["form"] = tr(c, "error.admin."+be.Code)
	default:
		return err
	}
	return nil
}

// transferMax says at most how much the source sub-account may give.
func transferMax(c echo.Context, name string, max decimal.Decimal) string {
	return i18n.Tf(c.Request().Context(), "form.transfer.amount_max", map[string]string{"Name": name, "Max": format.Credits(max)})
}

// accountLimits is where sub-accounts' rate limits live: the gateway's
// store, the one the API enforces (a portal built without the gateway
// still writes there).
func (s *Server) accountLimits() *gateway.LimitStore {
	if s.Gateway != nil {
		return s.Gateway.Limits
	}
	return gateway.NewLimitStore(s.pages)
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
		d, err := format.ParseDecimal(f.Allocation)
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
	if !cu.sees(id) {
		return cu, usage.SubAccount{}, echo.ErrNotFound
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
	v, err := s.subAccountView(c, sub, f, saved, pv.SubModelsForm{})
	if err != nil {
		return err
	}
	return Render(c, status, pv.SubAccount(v), nil)
}

// subAccountView is one department's page: its figures, the allocation and
// limits form f and the model allow-list form m.
func (s *Server) subAccountView(c echo.Context, sub usage.SubAccount, f pv.SubAccountForm, saved bool, m pv.SubModelsForm) (pv.SubAccountView, error) {
	lim, err := s.accountLimits().Get(c.Request().Context(), sub.ID)
	if err != nil {
		return pv.SubAccountView{}, err
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
		UsageURL: s.URL("portal.usage") + "?account=" + strconv.FormatInt(sub.ID, 10), Models: m}
	if err := s.subModels(c, sub, &v.Models); err != nil {
		return pv.SubAccountView{}, err
	}
	return v, nil
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
