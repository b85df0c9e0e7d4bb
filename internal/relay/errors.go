package relay

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/pricing"
)

// apiError is one line of the gateway's error table: OpenAI's status, type
// and code for a domain error, so the official SDKs raise their own error
// classes (401 AuthenticationError, 403 PermissionDeniedError, 404
// NotFoundError, 429 RateLimitError, …). noRetry sets x-should-retry:
// false, which the SDKs obey: waiting does not bring credit back.
type apiError struct {
	err     error
	status  int
	typ     string
	code    string
	message string
	noRetry bool
}

// errorTable is the one place the gateway maps errors to answers; the first
// line whose error matches wins.
var errorTable = []apiError{
	{ErrInvalidKey, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided, or the key was revoked or has expired.", true},
	{ErrModelNotAllowed, http.StatusForbidden, "invalid_request_error", "model_not_allowed", "This API key may not use this model.", true},
	{gateway.ErrModelNotAllowed, http.StatusForbidden, "invalid_request_error", "model_not_allowed", "This account may not use this model (its model allow-list).", true},
	{ErrModelNotFound, http.StatusNotFound, "invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it.", true},
	{pricing.ErrUnknownModel, http.StatusNotFound, "invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it.", true},
	{gateway.ErrVerificationRequired, http.StatusForbidden, "permission_error", "verification_required", "Real-name verification is required before this call (实名认证).", true},
	{ledger.ErrAccountFrozen, http.StatusForbidden, "permission_error", "account_deactivated", "This account is frozen.", true},
	{gateway.ErrRateLimited, http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "Rate limit reached; retry after the time in Retry-After.", false},
	{ledger.ErrConcurrencyLimit, http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "Too many calls at once for your tier: wait for one to finish (a larger cumulative recharge raises the limit).", false},
	{ledger.ErrInsufficientCredits, http.StatusTooManyRequests, "insufficient_quota", "insufficient_quota", "You exceeded your current quota: top up your credit balance.", true},
	{ledger.ErrAllocationExceeded, http.StatusTooManyRequests, "insufficient_quota", "insufficient_quota", "You exceeded your current quota: this sub-account's allocation is spent.", true},
	{ledger.ErrBudgetExceeded, http.StatusTooManyRequests, "insufficient_quota", "insufficient_quota", "You exceeded your current quota: a budget over this account, project or key is spent.", true},
	{ErrTooLarge, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "The request body is too large.", true},
	{ErrBadRequest, http.StatusBadRequest, "invalid_request_error", "invalid_request", "The request body is not valid.", true},
	{gateway.ErrInvalidRequest, http.StatusBadRequest, "invalid_request_error", "invalid_request", "The request is not valid.", true},
	{fielderr.ErrInvalid, http.StatusBadRequest, "invalid_request_error", "invalid_request", "The request is not valid.", true},
	{ErrUpstream, http.StatusBadGateway, "api_error", "upstream_error", "No upstream could serve the call; nothing was charged.", false},
	{pricing.ErrNoRateCard, http.StatusServiceUnavailable, "api_error", "service_unavailable", "No rate card is in force.", false},
}

// noPrimary answers a call that needed the database's primary while none
// answers (a failover, db.NoPrimary): 503 with Retry-After, which the
// official SDKs retry by default, as they do 429 and other 5xx.
var noPrimary = apiError{err: db.ErrNoPrimary, status: http.StatusServiceUnavailable, typ: "api_error", code: "service_unavailable",
	message: "The billing database is failing over; retry in a few seconds. Nothing was charged."}

// noPrimaryRetryAfter is the Retry-After of noPrimary, in seconds: the web
// server's too (unavailable_retry).
const noPrimaryRetryAfter = "2"

var internalError = apiError{status: http.StatusInternalServerError, typ: "api_error", code: "internal_error", message: "The gateway failed; nothing was charged."}

func lookupError(err error) apiError {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e
		}
	}
	// After the table: a client's body cut short (ErrBadRequest) is the
	// client's, though NoPrimary would call its io error a lost server.
	if errors.Is(err, db.ErrNoPrimary) || db.NoPrimary(err) {
		return noPrimary
	}
	return internalError
}

// errorBody is OpenAI's error document.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

// writeError answers err in OpenAI's shape.
func writeError(w http.ResponseWriter, err error) {
	e := lookupError(err)
	if e.noRetry {
		w.Header().Set("x-should-retry", "false")
	}
	if e.err == db.ErrNoPrimary {
		w.Header().Set("Retry-After", noPrimaryRetryAfter)
		w.Header().Set("x-should-retry", "true")
	}
	var rl *gateway.RateLimitedError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(rl.RetryAfterSeconds()))
	}
	writeJSON(w, e.status, errorBody{Error: errorDetail{Message: e.message, Type: e.typ, Code: e.code}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
