package ledger

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
)

// Sentinel errors returned (wrapped) by the ledger's operations; test with
// errors.Is. Each operation's doc comment lists the ones it can return.
var (
	// ErrInsufficientCredits: the account's available balance is below the amount asked for.
	ErrInsufficientCredits = errors.New("insufficient credits")
	// ErrAccountFrozen: the account (or its enterprise) is frozen and cannot spend.
	ErrAccountFrozen = errors.New("account frozen")
	// ErrNotFound: no such account, lot or reservation.
	ErrNotFound = errors.New("not found")
	// ErrIdempotencyConflict: the idempotency key was used before with other arguments.
	ErrIdempotencyConflict = errors.New("idempotency key reused with different arguments")
	// ErrReservationClosed: the reservation was already committed or released.
	ErrReservationClosed = errors.New("reservation closed")
	// ErrAllocationExceeded: a sub-account's allocation is below the amount asked for.
	ErrAllocationExceeded = errors.New("allocation exceeded")
	// ErrInvalidAmount: an amount is zero, negative, or not a credit amount.
	ErrInvalidAmount = errors.New("invalid amount")
	// ErrInvalidArgument: a required field is missing or a value is out of range.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrMissingIdempotencyKey: a mutating call came without its idempotency key.
	ErrMissingIdempotencyKey = errors.New("missing idempotency key")
	// ErrCrossEnterpriseTransfer: a transfer between accounts of different enterprises (or not of an enterprise).
	ErrCrossEnterpriseTransfer = errors.New("transfer outside one enterprise")
	// ErrRefundExceedsLot: the refund is larger than the lot's unconsumed remainder.
	ErrRefundExceedsLot = errors.New("refund exceeds the lot's remaining credits")
	// ErrNotRefundable: only paid lots can be refunded (promo, plan and grace credit cannot).
	ErrNotRefundable = errors.New("lot is not refundable")
	// ErrClosed: the Ledger was closed.
	ErrClosed = errors.New("ledger closed")
	// ErrTrial: the account is in trial (it has not passed real-name
	// verification) and the operation goes beyond what a trial allows; it
	// is one of the two errors below.
	ErrTrial = errors.New("account in trial")
	// ErrTrialCapReached: the hold or charge would take the account's trial
	// usage (charged in trial plus held by its open reservations) past its
	// trial cap; returned as *ShortfallError with what is left under it.
	ErrTrialCapReached = fmt.Errorf("%w: trial credit cap reached", ErrTrial)
	// ErrTrialPaidCredit: the hold or charge needs paid credit, which only a
	// verified account may spend (a trial spends promo, plan and grace lots).
	ErrTrialPaidCredit = fmt.Errorf("%w: paid credit needs a verified account", ErrTrial)
	// ErrBudgetExceeded: the hold or charge would take a hard-stop budget
	// over the call (its account's, project's or key's, or its
	// enterprise's) past its cap in the current period; returned as
	// *BudgetExceededError with the room left and when the period resets.
	ErrBudgetExceeded = errors.New("budget exceeded")
	// ErrConcurrencyLimit: the pool already holds as many open reservations
	// as its tier allows (Tier.MaxOpen); one must close first.
	ErrConcurrencyLimit = errors.New("concurrent reservation limit reached")
	// ErrCreditLineInUse: a credit line cannot be lowered below what is
	// used of it (consumed and not yet given back, or held).
	ErrCreditLineInUse = errors.New("credit line in use")
	// ErrNoCreditLine: the account has no credit line.
	ErrNoCreditLine = errors.New("no credit line")
	// ErrCreditRestoreExceeds: a restore would give back more of the line
	// than is used of it.
	ErrCreditRestoreExceeds = errors.New("restore exceeds the credit line used")
	// ErrRetryWindowPassed: the call repeats one (same idempotency key, or a
	// commit or release of the same reservation) whose record the retention
	// job has moved to the archive, past the retry window (see Retire). It
	// is not applied again, and retrying it cannot succeed.
	ErrRetryWindowPassed = errors.New("retry window passed: the original call is archived")
	// ErrArchived: the instant asked about lies in months of events that
	// left for the archive (Archive); restore them (Restore) to ask.
	ErrArchived = errors.New("events archived")
	// ErrArchiveRefused: Archive will not let the month leave (its revenue
	// month-end positions do not exist yet, an older month still holds
	// events, or it is not a month that can leave); the error says which.
	ErrArchiveRefused = errors.New("archive refused")
	// ErrArchiveCorrupt: Restore found the file (or its manifest) not to be
	// the one Archive wrote: its SHA-256 differs, or what it holds
	// disagrees with the manifest. Nothing was loaded.
	ErrArchiveCorrupt = errors.New("archive file corrupt")
)

// codeErrors maps the error codes the SQL functions return to sentinels.
var codeErrors = map[string]error{
	"insufficient_credits":      ErrInsufficientCredits,
	"account_frozen":            ErrAccountFrozen,
	"not_found":                 ErrNotFound,
	"idempotency_conflict":      ErrIdempotencyConflict,
	"reservation_closed":        ErrReservationClosed,
	"allocation_exceeded":       ErrAllocationExceeded,
	"cross_enterprise_transfer": ErrCrossEnterpriseTransfer,
	"refund_exceeds_lot":        ErrRefundExceedsLot,
	"not_refundable":            ErrNotRefundable,
	"invalid_argument":          ErrInvalidArgument,
	"trial_cap_reached":         ErrTrialCapReached,
	"trial_paid_credit":         ErrTrialPaidCredit,
	"budget_exceeded":           ErrBudgetExceeded,
	"concurrency_limit":         ErrConcurrencyLimit,
	"credit_line_in_use":        ErrCreditLineInUse,
	"no_credit_line":            ErrNoCreditLine,
	"credit_restore_exceeds":    ErrCreditRestoreExceeds,
	"retry_window_passed":       ErrRetryWindowPassed,
}

// ShortfallError carries what was available when an operation was refused
// for lack of credits or allocation; it matches its sentinel with errors.Is.
type ShortfallError struct {
	Err       error
	Available decimal.Decimal
}

func (e *ShortfallError) Error() string {
	return fmt.Sprintf("%v (available %s)", e.Err, e.Available.StringFixed(Scale))
}

// Unwrap returns the sentinel.
func (e *ShortfallError) Unwrap() error { return e.Err }

// Code returns the stable error code of a ledger sentinel (for API error
// bodies and i18n keys: error.<code>), or "" for other errors.
func Code(err error) string {
	for code, s := range codeErrors {
		if errors.Is(err, s) {
			return code
		}
	}
	switch {
	case errors.Is(err, ErrInvalidAmount):
		return "invalid_amount"
	case errors.Is(err, ErrMissingIdempotencyKey):
		return "missing_idempotency_key"
	}
	return ""
}
