package web

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/autotopup"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/relay"
	"github.com/seed75218f88/credits/internal/statement"
	"github.com/seed75218f88/credits/internal/team"
	"github.com/seed75218f88/credits/internal/usage"
	"github.com/seed75218f88/credits/internal/usagestream"
	"github.com/seed75218f88/credits/internal/verification"
	adminview "github.com/seed75218f88/credits/views/admin"
	"github.com/seed75218f88/credits/views/components"
	"github.com/seed75218f88/credits/views/layout"
)

// ErrorMapping says how one domain error is answered: the HTTP status, the
// code in the JSON API's {"error":{"code","message"}} and the i18n key of the
// message people read.
type ErrorMapping struct {
	Target error // matched with errors.Is
	Status int
	Code   string
	Key    string
}

// ErrCSRF is returned when a form or htmx request lacks a valid CSRF token.
var ErrCSRF = errors.New("web: missing or invalid CSRF token")

// errorTable is THE mapping of domain errors, checked in order with
// errors.Is; the first match wins, so list specific errors before general
// ones. Each area adds its sentinels here (e.g. {ledger.ErrInsufficientCredits,
// http.StatusPaymentRequired, "insufficient_credits", "error.insufficient_credits"}).
// Errors that match nothing fall back to statusTable by echo.HTTPError code,
// else 500.
var errorTable = []ErrorMapping{
	// No primary could take the request (a failover, about ten seconds):
	// the same request, resent, succeeds once one answers (Retry-After).
	// LookupError matches it with db.NoPrimary, before the rest.
	{db.ErrNoPrimary, http.StatusServiceUnavailable, "unavailable_retry", "error.unavailable_retry"},
	{ErrCSRF, http.StatusForbidden, "csrf_failed", "error.csrf"},
	// Portal: another account's id in a URL is simply not found.
	{usage.ErrNotFound, http.StatusNotFound, "not_found", "error.not_found"},
	{statement.ErrNotFound, http.StatusNotFound, "not_found", "error.not_found"},
	// A statement or usage of months moved to the archive (before the
	// ledger's own ErrArchived below, which both wrap).
	{statement.ErrArchived, http.StatusGone, "archived", "error.statement.archived"},
	{usage.ErrArchived, http.StatusGone, "archived", "error.usage.archived"},
	{creditline.ErrBillNotFound, http.StatusNotFound, "not_found", "error.not_found"},
	{creditline.ErrNoLine, http.StatusNotFound, "not_found", "error.not_found"},
	{creditline.ErrBillPaid, http.StatusConflict, "bill_paid", "error.bill_paid"},
	{creditline.ErrNotEnterprise, http.StatusUnprocessableEntity, "not_enterprise", "error.credit_line_not_enterprise"},
	{ledger.ErrCreditLineInUse, http.StatusConflict, "credit_line_in_use", "error.credit_line_in_use"},
	{usage.ErrInvalidFilter, http.StatusBadRequest, "bad_request", "error.bad_request"},
	{auth.ErrSignInThrottled, http.StatusTooManyRequests, "rate_limited", "error.rate_limited"},
	// A staff user id in a back-office URL that names no one.
	{auth.ErrNotFound, http.StatusNotFound, "not_found", "error.not_found"},

	// Payments (internal/payments): checkout pages and notify endpoints.
	{autotopup.ErrNotFound, http.StatusNotFound, "not_found", "error.autotopup.not_found"},
	{autotopup.ErrAgreementInForce, http.StatusConflict, "agreement_in_force", "error.autotopup.agreement_in_force"},
	{autotopup.ErrInvalidState, http.StatusConflict, "invalid_state", "error.autotopup.invalid_state"},
	{payments.ErrNotFound, http.StatusNotFound, "not_found", "error.payments.not_found"},
	{payments.ErrAmountOutOfRange, http.StatusBadRequest, "amount_out_of_range", "error.payments.amount_out_of_range"},
	{payments.ErrChannelUnavailable, http.StatusServiceUnavailable, "channel_unavailable", "error.payments.channel_unavailable"},
	{payments.ErrChannel, http.StatusBadGateway, "channel_error", "error.payments.channel_error"},
	{payments.ErrBadSignature, http.StatusUnauthorized, "bad_signature", "error.payments.bad_signature"},
	{payments.ErrMalformedNotify, http.StatusBadRequest, "malformed_notify", "error.payments.malformed_notify"},
	{payments.ErrInvalidTransition, http.StatusConflict, "invalid_transition", "error.payments.invalid_transition"},
	{payments.ErrNotTransferOrder, http.StatusConflict, "not_transfer_order", "error.payments.not_transfer_order"},
	{payments.ErrAlreadyPaid, http.StatusConflict, "already_paid", "error.payments.already_paid"},
	{payments.ErrNotRefundable, http.StatusConflict, "not_refundable", "error.payments.not_refundable"},
	{payments.ErrRefundExceedsOrder, http.StatusConflict, "refund_exceeds_order", "error.payments.refund_exceeds_order"},
	{payments.ErrIdempotencyConflict, http.StatusConflict, "idempotency_conflict", "error.payments.idempotency_conflict"},
	{payments.ErrPlanInForce, http.StatusConflict, "plan_in_force", "error.payments.plan_in_force"},
	{payments.ErrNoPlanCheckout, http.StatusServiceUnavailable, "no_plan_checkout", "error.payments.no_plan_checkout"},
	{payments.ErrNoRenewalDue, http.StatusConflict, "no_renewal_due", "error.payments.no_renewal_due"},
	{payments.ErrRenewalSettled, http.StatusConflict, "renewal_settled", "error.payments.renewal_settled"},
	{payments.ErrInvalidArgument, http.StatusBadRequest, "invalid_argument", "error.payments.invalid_argument"},
	{payments.ErrUpgradeSuperseded, http.StatusConflict, "upgrade_superseded", "error.payments.upgrade_superseded"},

	// Changing plans (internal/plans, changes.go).
	{plans.ErrPastDue, http.StatusConflict, "plan_past_due", "error.plans.past_due"},
	{plans.ErrNotChangeable, http.StatusConflict, "plan_not_changeable", "error.plans.not_changeable"},
	{plans.ErrSamePlan, http.StatusConflict, "same_plan", "error.plans.same_plan"},
	{plans.ErrCycleWithUpgrade, http.StatusConflict, "cycle_with_upgrade", "error.plans.cycle_with_upgrade"},
	{plans.ErrNoScheduledChange, http.StatusConflict, "no_scheduled_change", "error.plans.no_scheduled_change"},
	{plans.ErrNotCanceled, http.StatusConflict, "plan_not_canceled", "error.plans.not_canceled"},
	{plans.ErrNextPeriodPaid, http.StatusConflict, "next_period_paid", "error.plans.next_period_paid"},
	{plans.ErrUpgradeSuperseded, http.StatusConflict, "upgrade_superseded", "error.payments.upgrade_superseded"},

	// Gateway API (internal/gateway, and the ledger and pricing errors it passes on).
	{gateway.ErrUnauthorized, http.StatusUnauthorized, "unauthorized", "error.api.unauthorized"},
	{gateway.ErrNotFound, http.StatusNotFound, "not_found", "error.api.not_found"},
	{gateway.ErrEnterpriseRateLimited, http.StatusTooManyRequests, "rate_limited", "error.api.rate_limited_enterprise"},
	{gateway.ErrRateLimited, http.StatusTooManyRequests, "rate_limited", "error.api.rate_limited"},
	{plans.ErrQuotaExhausted, http.StatusTooManyRequests, "plan_quota_exhausted", "error.api.plan_quota_exhausted"},
	{gateway.ErrVerificationRequired, http.StatusForbidden, "verification_required", "error.api.verification_required"},
	// The account's (or its enterprise's) model allow-list does not name
	// the model (internal/access): not retryable.
	{gateway.ErrModelNotAllowed, http.StatusForbidden, "model_not_allowed", "error.api.model_not_allowed"},
	// The ledger's trial rules (paid credit, the trial cap) refused it.
	{ledger.ErrTrial, http.StatusForbidden, "verification_required", "error.api.verification_required"},
	{gateway.ErrInvalidRequest, http.StatusBadRequest, "invalid_request", "error.api.invalid_request"},
	{gateway.ErrAccountConflict, http.StatusConflict, "account_conflict", "error.api.account_conflict"},
	{gateway.ErrIdempotencyConflict, http.StatusConflict, "idempotency_conflict", "error.api.idempotency_conflict"},
	{ledger.ErrIdempotencyConflict, http.StatusConflict, "idempotency_conflict", "error.api.idempotency_conflict"},
	{ledger.ErrRetryWindowPassed, http.StatusConflict, "retry_window_passed", "error.api.retry_window_passed"},
	// A balance asked for an instant in months moved to the archive
	// (ledger.Archive) until they are restored.
	{ledger.ErrArchived, http.StatusGone, "archived", "error.api.archived"},
	// A hard-stop budget (the account's, a project's or a key's) is full;
	// retry_at says when its period resets.
	{ledger.ErrBudgetExceeded, http.StatusPaymentRequired, "budget_exceeded", "error.api.budget_exceeded"},
	{ledger.ErrInsufficientCredits, http.StatusPaymentRequired, "insufficient_credits", "error.api.insufficient_credits"},
	// The pool's tier (by cumulative recharge) caps its open reservations
	// and that many are open: retry when one closes.
	{ledger.ErrConcurrencyLimit, http.StatusTooManyRequests, "concurrency_limit", "error.api.concurrency_limit"},
	{ledger.ErrAllocationExceeded, http.StatusPaymentRequired, "allocation_exceeded", "error.api.allocation_exceeded"},
	{ledger.ErrCrossEnterpriseTransfer, http.StatusConflict, "cross_enterprise_transfer", "error.api.cross_enterprise_transfer"},
	{ledger.ErrAccountFrozen, http.StatusForbidden, "account_frozen", "error.api.account_frozen"},
	{ledger.ErrReservationClosed, http.StatusConflict, "reservation_closed", "error.api.reservation_closed"},
	{ledger.ErrNotFound, http.StatusNotFound, "not_found", "error.api.not_found"},
	{ledger.ErrInvalidAmount, http.StatusBadRequest, "invalid_amount", "error.api.invalid_amount"},
	{ledger.ErrMissingIdempotencyKey, http.StatusBadRequest, "missing_idempotency_key", "error.api.missing_idempotency_key"},
	{ledger.ErrInvalidArgument, http.StatusBadRequest, "invalid_request", "error.api.invalid_request"},
	{pricing.ErrUnknownModel, http.StatusBadRequest, "unknown_model", "error.api.unknown_model"},
	{pricing.ErrNoRateCard, http.StatusServiceUnavailable, "no_rate_card", "error.api.no_rate_card"},
	{usagestream.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "error.unavailable"},
	{usagestream.ErrNotFound, http.StatusNotFound, "not_found", "error.not_found"},

	// The OpenAI-compatible gateway's keys (portal) and upstreams (back
	// office): another customer's key or an unknown upstream is not found.
	{relay.ErrNotFound, http.StatusNotFound, "not_found", "error.not_found"},
	{relay.ErrKeyRevoked, http.StatusConflict, "key_revoked", "error.relay.key_revoked"},

	// Back office (internal/backoffice). Its field failures (the 422 rows,
	// account_not_found, redeem_throttled) are *fielderr.Errors: a form shows
	// them next to their field (fieldErrors, web/form_errors.go); these rows
	// answer them anywhere else with their API codes.
	{backoffice.ErrForbidden, http.StatusForbidden, "forbidden", "error.admin.forbidden"},
	{backoffice.ErrSelfApproval, http.StatusForbidden, "self_approval", "error.admin.self_approval"},
	{backoffice.ErrApprovalNotFound, http.StatusNotFound, "not_found", "error.admin.approval_not_found"},
	{backoffice.ErrAccountNotFound, http.StatusNotFound, "not_found", "error.admin.account_not_found"},
	{backoffice.ErrLineNotFound, http.StatusNotFound, "not_found", "error.admin.line_not_found"},
	{backoffice.ErrDifferenceNotFound, http.StatusNotFound, "not_found", "error.admin.difference_not_found"},
	{backoffice.ErrRefundNotFound, http.StatusNotFound, "not_found", "error.admin.refund_not_found"},
	{backoffice.ErrApprovalClosed, http.StatusConflict, "approval_closed", "error.admin.approval_closed"},
	{backoffice.ErrApprovalPending, http.StatusConflict, "approval_pending", "error.admin.approval_pending"},
	{backoffice.ErrInvalidFilter, http.StatusBadRequest, "invalid_filter", "error.admin.invalid_filter"},
	{backoffice.ErrLineNotOpen, http.StatusConflict, "line_not_open", "error.admin.line_not_open"},
	{backoffice.ErrDifferenceResolved, http.StatusConflict, "difference_resolved", "error.admin.difference_resolved"},
	{backoffice.ErrRefundClosed, http.StatusConflict, "refund_closed", "error.admin.refund_closed"},
	{backoffice.ErrNotRefundable, http.StatusConflict, "not_refundable", "error.payments.not_refundable"},
	{backoffice.ErrRefundPending, http.StatusConflict, "refund_pending", "error.admin.refund_pending"},
	{backoffice.ErrCodeUsed, http.StatusConflict, "code_used", "error.admin.code_used"},
	{backoffice.ErrAlreadyRedeemed, http.StatusConflict, "already_redeemed", "error.admin.already_redeemed"},
	{backoffice.ErrReasonCodeExists, http.StatusConflict, "reason_code_exists", "error.admin.reason_code_exists"},
	{backoffice.ErrRedeemThrottled, http.StatusTooManyRequests, "rate_limited", "error.admin.redeem_throttled"},
	{backoffice.ErrNoChannelOrders, http.StatusServiceUnavailable, "unavailable", "error.admin.no_channel_orders"},
	{backoffice.ErrNoRefunder, http.StatusServiceUnavailable, "unavailable", "error.admin.no_refunder"},
	{backoffice.ErrNoServiceKeys, http.StatusServiceUnavailable, "unavailable", "error.admin.no_service_keys"},
	{backoffice.ErrKeyNotFound, http.StatusNotFound, "not_found", "error.admin.key_not_found"},
	{backoffice.ErrKeyRevoked, http.StatusConflict, "key_revoked", "error.admin.key_revoked"},
	{backoffice.ErrNoWebhooks, http.StatusServiceUnavailable, "unavailable", "error.admin.no_webhooks"},
	{backoffice.ErrWebhookNotFound, http.StatusNotFound, "not_found", "error.admin.webhook_not_found"},
	{backoffice.ErrWebhookDisabled, http.StatusConflict, "webhook_disabled", "error.admin.webhook_disabled"},
	{backoffice.ErrWebhookDeleted, http.StatusConflict, "webhook_deleted", "error.admin.webhook_deleted"},
	{backoffice.ErrInvalidKeyName, http.StatusUnprocessableEntity, "invalid_key_name", "error.admin.invalid_key_name"},
	{backoffice.ErrInvalidKeyMode, http.StatusUnprocessableEntity, "invalid_key_mode", "error.admin.invalid_key_mode"},
	{backoffice.ErrInvalidAmount, http.StatusUnprocessableEntity, "invalid_amount", "error.admin.invalid_amount"},
	{backoffice.ErrTransferSameAccount, http.StatusUnprocessableEntity, "transfer_same_account", "error.admin.transfer_same_account"},
	{backoffice.ErrInvalidExpiry, http.StatusUnprocessableEntity, "invalid_expiry", "error.admin.invalid_expiry"},
	{backoffice.ErrReasonRequired, http.StatusUnprocessableEntity, "reason_required", "error.admin.reason_required"},
	{backoffice.ErrUnknownReasonCode, http.StatusUnprocessableEntity, "unknown_reason_code", "error.admin.unknown_reason_code"},
	{backoffice.ErrInvalidReasonCode, http.StatusUnprocessableEntity, "invalid_reason_code", "error.admin.invalid_reason_code"},
	{backoffice.ErrMissingIdempotencyKey, http.StatusUnprocessableEntity, "missing_idempotency_key", "error.admin.missing_idempotency_key"},
	{backoffice.ErrInvalidBatch, http.StatusUnprocessableEntity, "invalid_batch", "error.admin.invalid_batch"},
	{backoffice.ErrInvalidCode, http.StatusUnprocessableEntity, "invalid_code", "error.admin.invalid_code"},
	{backoffice.ErrCodeExpired, http.StatusUnprocessableEntity, "code_expired", "error.admin.code_expired"},
	{backoffice.ErrEmptyStatement, http.StatusUnprocessableEntity, "empty_statement", "error.admin.empty_statement"},
	{backoffice.ErrEmptyBill, http.StatusUnprocessableEntity, "empty_bill", "error.admin.empty_bill"},
	{backoffice.ErrRefundExceedsPaid, http.StatusUnprocessableEntity, "refund_exceeds_paid", "error.admin.refund_exceeds_paid"},
	{backoffice.ErrAccountFrozen, http.StatusUnprocessableEntity, "account_frozen", "error.admin.account_frozen"},

	// Real-name verification (internal/verification); its field failures
	// re-render the form (fieldErrors).
	{verification.ErrAlreadyVerified, http.StatusConflict, "already_verified", "error.verification.already_verified"},
	{verification.ErrPending, http.StatusConflict, "verification_pending", "error.verification.pending"},
	{verification.ErrIdentityInUse, http.StatusConflict, "identity_in_use", "error.verification.identity_in_use"},
	{verification.ErrNotFound, http.StatusNotFound, "not_found", "error.verification.no_such_verification"},
	{verification.ErrNotPending, http.StatusConflict, "not_pending", "error.verification.not_pending"},
	{verification.ErrReasonRequired, http.StatusUnprocessableEntity, "reason_required", "error.verification.reason_required"},
	{verification.ErrForbidden, http.StatusForbidden, "forbidden", "error.verification.forbidden"},
	{verification.ErrNoLicence, http.StatusNotFound, "not_found", "error.verification.no_licence"},

	// VAT invoices (internal/invoicing); field failures re-render the form.
	{invoicing.ErrNotFound, http.StatusNotFound, "not_found", "error.invoicing.not_found"},
	{invoicing.ErrExceedsInvoiceable, http.StatusConflict, "exceeds_invoiceable", "error.invoicing.exceeds_invoiceable"},
	{invoicing.ErrUnknownTopUp, http.StatusUnprocessableEntity, "unknown_top_up", "error.invoicing.unknown_top_up"},
	{invoicing.ErrWrongState, http.StatusConflict, "wrong_state", "error.invoicing.wrong_state"},
	{invoicing.ErrReasonRequired, http.StatusUnprocessableEntity, "reason_required", "error.invoicing.reason_required"},
	{invoicing.ErrDuplicateNumber, http.StatusConflict, "duplicate_number", "error.invoicing.duplicate_number"},
	{invoicing.ErrSellerNotConfigured, http.StatusConflict, "seller_not_configured", "error.invoicing.seller_not_configured"},
	{invoicing.ErrRefundNeedsReversal, http.StatusConflict, "refund_needs_reversal", "error.invoicing.refund_needs_reversal"},
	{invoicing.ErrMonthNotInvoiceable, http.StatusUnprocessableEntity, "month_not_invoiceable", "error.invoicing.month_not_invoiceable"},
	{invoicing.ErrBillNotInvoiceable, http.StatusUnprocessableEntity, "bill_not_invoiceable", "error.invoicing.bill_not_invoiceable"},
	{invoicing.ErrBasisInvalid, http.StatusUnprocessableEntity, "basis_invalid", "error.invoicing.basis_invalid"},

	// Any other *fielderr.Errors: what was typed is wrong. A form shows each
	// field's message (fieldErrors); elsewhere it is this one answer. This
	// row, and the 422 rows above, are what the table calls field
	// validation: no other list says so.
	// Team members (internal/team) and the portal's authorization table
	// (web/portal_authz.go): a role that may not, an account the user is
	// not a member of (not found, like any other account's id).
	{ErrPortalForbidden, http.StatusForbidden, "forbidden_for_role", "error.team.forbidden"},
	{team.ErrForbidden, http.StatusForbidden, "forbidden_for_role", "error.team.forbidden"},
	{team.ErrNotMember, http.StatusNotFound, "not_found", "error.not_found"},
	{team.ErrNotFound, http.StatusNotFound, "not_found", "error.not_found"},
	{team.ErrLastOwner, http.StatusConflict, "last_owner", "error.team.last_owner"},
	{team.ErrAlreadyMember, http.StatusConflict, "already_member", "error.team.already_member"},
	{team.ErrWrongInvitee, http.StatusForbidden, "wrong_invitee", "error.team.wrong_invitee"},
	{team.ErrInvitationNotFound, http.StatusNotFound, "invitation_not_found", "error.team.invitation_not_found"},
	{team.ErrInvitationUsed, http.StatusGone, "invitation_used", "error.team.invitation_used"},
	{team.ErrInvitationExpired, http.StatusGone, "invitation_expired", "error.team.invitation_expired"},
	{team.ErrInvitationRevoked, http.StatusGone, "invitation_revoked", "error.team.invitation_revoked"},

	// Model allow-lists (internal/access): another enterprise's account.
	{access.ErrNotFound, http.StatusNotFound, "not_found", "error.not_found"},

	{fielderr.ErrInvalid, http.StatusUnprocessableEntity, "invalid_input", "error.invalid_input"},
}

// statusTable answers echo.HTTPError values (router 404/405, bind errors,
// echo.NewHTTPError in handlers) by status.
var statusTable = map[int]ErrorMapping{
	http.StatusBadRequest:            {nil, http.StatusBadRequest, "bad_request", "error.bad_request"},
	http.StatusUnauthorized:          {nil, http.StatusUnauthorized, "unauthorized", "error.unauthorized"},
	http.StatusForbidden:             {nil, http.StatusForbidden, "forbidden", "error.forbidden"},
	http.StatusNotFound:              {nil, http.StatusNotFound, "not_found", "error.not_found"},
	http.StatusMethodNotAllowed:      {nil, http.StatusMethodNotAllowed, "method_not_allowed", "error.method_not_allowed"},
	http.StatusConflict:              {nil, http.StatusConflict, "conflict", "error.conflict"},
	http.StatusRequestEntityTooLarge: {nil, http.StatusRequestEntityTooLarge, "too_large", "error.too_large"},
	http.StatusTooManyRequests:       {nil, http.StatusTooManyRequests, "rate_limited", "error.rate_limited"},
	http.StatusServiceUnavailable:    {nil, http.StatusServiceUnavailable, "unavailable", "error.unavailable"},
}

var internalError = ErrorMapping{nil, http.StatusInternalServerError, "internal", "error.internal"}

// MapError adds a mapping to this server's table, after the built-in ones;
// prefer adding a line to errorTable in errors.go, which keeps every mapping
// in one place.
func (s *Server) MapError(target error, status int, code, i18nKey string) {
	s.errors = append(s.errors, ErrorMapping{target, status, code, i18nKey})
}

// ErrorMappings returns the table in the order it is checked.
func (s *Server) ErrorMappings() []ErrorMapping {
	out := append([]ErrorMapping(nil), s.errors...)
	for _, m := range statusTable {
		out = append(out, m)
	}
	return append(out, internalError)
}

// LookupError returns how err is answered.
func (s *Server) LookupError(err error) ErrorMapping {
	if db.NoPrimary(err) {
		err = db.ErrNoPrimary
	}
	for _, m := range s.errors {
		if errors.Is(err, m.Target) {
			return m
		}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if m, ok := statusTable[he.Code]; ok {
			return m
		}
		if he.Code >= 400 && he.Code < 500 {
			m := statusTable[http.StatusBadRequest]
			m.Status = he.Code
			return m
		}
	}
	return internalError
}

// APIError is the JSON body of every API error.
type APIError struct {
	Error APIErrorBody `json:"error"`
}

// APIErrorBody is the code machines branch on and the message people read;
// a request with fields that are wrong lists them (each with its code and,
// for the API's own checks, the English reason in args).
type APIErrorBody struct {
	Code    string           `json:"code"`
	Message string           `json:"message"`
	Fields  []fielderr.Field `json:"fields,omitempty"`
	// RetryAt is when the refused call would be accepted (a plan quota's
	// window freeing up, a budget's period resetting); Retry-After says the
	// same in seconds.
	RetryAt *time.Time `json:"retry_at,omitempty"`
}

// retryAter is an error that knows when a retry would be accepted (zero:
// never as it stands).
type retryAter interface{ RetryAt() time.Time }

// handleError answers every error a handler or middleware returns: JSON for
// the API, an alert swapped into #flash for htmx, a full page otherwise.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	m := s.LookupError(err)
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	if m.Status >= 500 {
		s.Logger.LogAttrs(c.Request().Context(), slog.LevelError, "request failed",
			slog.String("request_id", rid), slog.String("path", c.Request().URL.Path), slog.String("error", err.Error()))
	}
	ctx := c.Request().Context()
	if i18n.FromContext(ctx) == nil { // an error before the localize middleware
		ctx = i18n.WithLocalizer(ctx, s.I18n.Localizer(s.I18n.Match("", c.Request().Header.Get("Accept-Language"))))
	}
	msg := i18n.Tf(ctx, m.Key, map[string]string{"RequestID": rid})
	if m.Status < 500 {
		rid = ""
	}
	if errors.Is(m.Target, db.ErrNoPrimary) {
		// A promotion takes about ten seconds; clients come back sooner
		// and resend (with their idempotency keys) until one answers.
		c.Response().Header().Set("Retry-After", strconv.Itoa(noPrimaryRetryAfter))
	}
	var werr error
	switch {
	case c.Request().Method == http.MethodHead:
		werr = c.NoContent(m.Status)
	case IsAPI(c.Request().URL.Path) || wantsJSON(c):
		body := APIErrorBody{Code: m.Code, Message: msg}
		if fe, ok := fielderr.As(err); ok {
			body.Fields = fe.Fields
		}
		if ra := retryAter(nil); errors.As(err, &ra) && !ra.RetryAt().IsZero() {
			at := ra.RetryAt().UTC()
			body.RetryAt = &at
			wait := int(math.Ceil(time.Until(at).Seconds()))
			c.Response().Header().Set("Retry-After", strconv.Itoa(max(wait, 1)))
		}
		werr = c.JSON(m.Status, APIError{body})
	case IsHTMX(c):
		c.Response().Header().Set("HX-Retarget", "#flash")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
		werr = renderTo(c, ctx, m.Status, components.ErrorAlert(m.Status, msg, rid))
	case strings.HasPrefix(c.Request().URL.Path, "/admin") && staffFrom(c).ID != 0:
		// A signed-in staff member stays in the back office's frame.
		werr = renderTo(c, ctx, m.Status, adminview.ErrorPage(adminFrame(c, ""), m.Status, msg, rid))
	default:
		werr = renderTo(c, ctx, m.Status, layout.ErrorPage(m.Status, msg, rid))
	}
	if werr != nil {
		s.Logger.Error("writing the error response failed", "request_id", rid, "error", werr.Error())
	}
}

// noPrimaryRetryAfter is the Retry-After (seconds) of an answer that no
// primary could take.
const noPrimaryRetryAfter = 2

// wantsJSON: a portal or back-office JSON endpoint (a chart's data), or a
// request that asks for JSON and not a page, gets its error as JSON too.
func wantsJSON(c echo.Context) bool {
	if strings.HasSuffix(c.Request().URL.Path, ".json") {
		return true
	}
	accept := c.Request().Header.Get(echo.HeaderAccept)
	return strings.Contains(accept, echo.MIMEApplicationJSON) && !strings.Contains(accept, echo.MIMETextHTML)
}

// csrfError keeps echo's reason while matching ErrCSRF.
type csrfError struct{ err error }

func (e *csrfError) Error() string        { return ErrCSRF.Error() + ": " + e.err.Error() }
func (e *csrfError) Is(target error) bool { return target == ErrCSRF }
func (e *csrfError) Unwrap() error        { return e.err }
