package backoffice

import (
	"errors"

	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// Error is a back-office domain error with a stable code, which the web
// layer's error table maps to a status and the i18n key "error.admin.<code>".
// What was typed wrong is not an Error but a *fielderr.Errors: the sentinels
// below built with field are its single-field values (errors.Is matches
// them inside a collection of several failed fields), shown next to their
// form field with the message error.field.<code>.
type Error struct {
	Code string
}

func (e *Error) Error() string { return "backoffice: " + e.Code }

// Sentinels returned by the package; compare with errors.Is.
var (
	// ErrForbidden: the actor lacks the role the action needs (or is not enabled staff).
	ErrForbidden = &Error{Code: "forbidden"}
	// ErrSelfApproval: the requester of an approval tried to decide it.
	ErrSelfApproval = &Error{Code: "self_approval"}
	// ErrApprovalNotFound: no such approval request.
	ErrApprovalNotFound = &Error{Code: "approval_not_found"}
	// ErrApprovalClosed: the approval was already approved, applied or rejected.
	ErrApprovalClosed = &Error{Code: "approval_closed"}
	// ErrApprovalPending: the subject (e.g. a statement line) already waits for approval.
	ErrApprovalPending = &Error{Code: "approval_pending"}
	// ErrAccountNotFound: no such ledger account.
	ErrAccountNotFound = field("account", "account_not_found")
	// ErrAccountFrozen: the account (or its enterprise) is frozen, so finance
	// may not put a statement line's money on it.
	ErrAccountFrozen = field("account", "account_frozen")
	// ErrInvalidAmount: an amount is missing, zero, negative or has too many decimals.
	ErrInvalidAmount = field("amount", "invalid_amount")
	// ErrTransferSameAccount: an allocation transfer names one account as both source and target.
	ErrTransferSameAccount = field("to", "transfer_same_account")
	// ErrInvalidExpiry: an expiry is missing or not in the future.
	ErrInvalidExpiry = field("expires_at", "invalid_expiry")
	// ErrReasonRequired: the action needs a reason (or note).
	ErrReasonRequired = field("reason", "reason_required")
	// ErrUnknownReasonCode: the grant reason code is not on the list, or inactive.
	ErrUnknownReasonCode = field("reason_code", "unknown_reason_code")
	// ErrInvalidReasonCode: a new reason code is malformed or lacks a label.
	ErrInvalidReasonCode = field("code", "invalid_reason_code")
	// ErrReasonCodeExists: the reason code is already on the list.
	ErrReasonCodeExists = field("code", "reason_code_exists")
	// ErrMissingIdempotencyKey: a grant came without its idempotency key.
	ErrMissingIdempotencyKey = field("", "missing_idempotency_key")
	// ErrInvalidBatch: a redemption batch lacks a campaign, amount or count, or has both expiry forms.
	ErrInvalidBatch = field("", "invalid_batch")
	// ErrInvalidCode: the redemption code does not exist (or is mistyped).
	ErrInvalidCode = field("code", "invalid_code")
	// ErrCodeUsed: the redemption code was already redeemed.
	ErrCodeUsed = field("code", "code_used")
	// ErrCodeExpired: the redemption code is past its expiry.
	ErrCodeExpired = field("code", "code_expired")
	// ErrAlreadyRedeemed: the customer already redeemed a code of this one-per-customer batch.
	ErrAlreadyRedeemed = field("code", "already_redeemed")
	// ErrRedeemThrottled: too many failed redemptions for the customer or from the IP; wait.
	ErrRedeemThrottled = field("code", "redeem_throttled")
	// ErrLineNotFound: no such bank statement line.
	ErrLineNotFound = &Error{Code: "line_not_found"}
	// ErrLineNotOpen: the statement line is no longer in the unmatched queue.
	ErrLineNotOpen = &Error{Code: "line_not_open"}
	// ErrEmptyStatement: the file holds no transactions.
	ErrEmptyStatement = field("file", "empty_statement")
	// ErrEmptyBill: the channel bill holds no trades.
	ErrEmptyBill = field("file", "empty_bill")
	// ErrNoChannelOrders: channel reconciliation is not wired (no ChannelOrders).
	ErrNoChannelOrders = &Error{Code: "no_channel_orders"}
	// ErrDifferenceNotFound: no such channel difference.
	ErrDifferenceNotFound = &Error{Code: "difference_not_found"}
	// ErrDifferenceResolved: the channel difference was already resolved.
	ErrDifferenceResolved = &Error{Code: "difference_resolved"}
	// ErrRefundNotFound: no such refund request.
	ErrRefundNotFound = &Error{Code: "refund_not_found"}
	// ErrRefundClosed: the refund request is not in the state the action needs.
	ErrRefundClosed = &Error{Code: "refund_closed"}
	// ErrRefundExceedsPaid: the refund is larger than the account's unconsumed paid credit.
	ErrRefundExceedsPaid = field("amount", "refund_exceeds_paid")
	// ErrNotRefundable: the order paid a credit line bill; it bought no
	// credit, so there is no top-up to refund (payments.ErrNotRefundable's
	// case, which this package cannot import: payments imports it).
	ErrNotRefundable = field("", "bill_not_refundable")
	// ErrRefundPending: a refund of this order is already requested.
	ErrRefundPending = &Error{Code: "refund_pending"}
	// ErrNoRefunder: refunds are not wired (no Refunder).
	ErrNoRefunder = &Error{Code: "no_refunder"}
	// ErrNoServiceKeys: service keys are not wired (no Keys).
	ErrNoServiceKeys = &Error{Code: "no_service_keys"}
	// ErrInvalidKeyName: a service key's name is empty or too long.
	ErrInvalidKeyName = field("name", "invalid_key_name")
	// ErrInvalidKeyMode: a service key's mode is neither live nor test.
	ErrInvalidKeyMode = field("mode", "invalid_key_mode")
	// ErrKeyNotFound: no such service key.
	ErrKeyNotFound = &Error{Code: "key_not_found"}
	// ErrKeyRevoked: the service key was already revoked.
	ErrKeyRevoked = &Error{Code: "key_revoked"}
	// ErrInvalidFilter: a list filter names an unknown value, or its page cursor is malformed.
	ErrInvalidFilter = &Error{Code: "invalid_filter"}
)

// field is the sentinel for field failing with code ("" for the whole form).
func field(name, code string) *fielderr.Errors { return fielderr.One("backoffice", name, code) }

// Code returns the code of a back-office error, or "" for any other error.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if fe, ok := fielderr.As(err); ok && fe.Domain == "backoffice" && len(fe.Fields) > 0 {
		return fe.Fields[0].Code
	}
	return ""
}

// FieldCodes lists every field code this package reports, so the web layer
// can check each has a message.
var FieldCodes = fieldCodes(ErrAccountNotFound, ErrAccountFrozen, ErrInvalidAmount, ErrTransferSameAccount,
	ErrInvalidExpiry, ErrReasonRequired, ErrUnknownReasonCode, ErrInvalidReasonCode, ErrReasonCodeExists,
	ErrMissingIdempotencyKey, ErrInvalidBatch, ErrInvalidCode, ErrCodeUsed, ErrCodeExpired, ErrAlreadyRedeemed,
	ErrRedeemThrottled, ErrEmptyStatement, ErrEmptyBill, ErrRefundExceedsPaid, ErrNotRefundable, ErrInvalidKeyName, ErrInvalidKeyMode,
	ErrNoPlanRefund)

func fieldCodes(sentinels ...*fielderr.Errors) []string {
	out := []string{"refund_pending"} // with ErrRefundPending
	for _, s := range sentinels {
		out = append(out, s.Fields[0].Code)
	}
	return out
}
