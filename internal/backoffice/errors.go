package backoffice

import "errors"

// Error is a back-office domain error with a stable code and, for form
// input, the field it belongs to. The web layer maps Code to the i18n key
// "error.admin.<code>" (locales/admin.*.toml) and shows it next to Field.
type Error struct {
	Code  string
	Field string
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
	ErrAccountNotFound = &Error{Code: "account_not_found", Field: "account"}
	// ErrAccountFrozen: the account (or its enterprise) is frozen, so finance
	// may not put a statement line's money on it.
	ErrAccountFrozen = &Error{Code: "account_frozen", Field: "account"}
	// ErrInvalidAmount: an amount is missing, zero, negative or has too many decimals.
	ErrInvalidAmount = &Error{Code: "invalid_amount", Field: "amount"}
	// ErrTransferSameAccount: an allocation transfer names one account as both source and target.
	ErrTransferSameAccount = &Error{Code: "transfer_same_account", Field: "to"}
	// ErrInvalidExpiry: an expiry is missing or not in the future.
	ErrInvalidExpiry = &Error{Code: "invalid_expiry", Field: "expires_at"}
	// ErrReasonRequired: the action needs a reason (or note).
	ErrReasonRequired = &Error{Code: "reason_required", Field: "reason"}
	// ErrUnknownReasonCode: the grant reason code is not on the list, or inactive.
	ErrUnknownReasonCode = &Error{Code: "unknown_reason_code", Field: "reason_code"}
	// ErrInvalidReasonCode: a new reason code is malformed or lacks a label.
	ErrInvalidReasonCode = &Error{Code: "invalid_reason_code", Field: "code"}
	// ErrReasonCodeExists: the reason code is already on the list.
	ErrReasonCodeExists = &Error{Code: "reason_code_exists", Field: "code"}
	// ErrMissingIdempotencyKey: a grant came without its idempotency key.
	ErrMissingIdempotencyKey = &Error{Code: "missing_idempotency_key"}
	// ErrInvalidBatch: a redemption batch lacks a campaign, amount or count, or has both expiry forms.
	ErrInvalidBatch = &Error{Code: "invalid_batch"}
	// ErrInvalidCode: the redemption code does not exist (or is mistyped).
	ErrInvalidCode = &Error{Code: "invalid_code", Field: "code"}
	// ErrCodeUsed: the redemption code was already redeemed.
	ErrCodeUsed = &Error{Code: "code_used", Field: "code"}
	// ErrCodeExpired: the redemption code is past its expiry.
	ErrCodeExpired = &Error{Code: "code_expired", Field: "code"}
	// ErrAlreadyRedeemed: the customer already redeemed a code of this one-per-customer batch.
	ErrAlreadyRedeemed = &Error{Code: "already_redeemed", Field: "code"}
	// ErrRedeemThrottled: too many failed redemptions for the customer or from the IP; wait.
	ErrRedeemThrottled = &Error{Code: "redeem_throttled", Field: "code"}
	// ErrLineNotFound: no such bank statement line.
	ErrLineNotFound = &Error{Code: "line_not_found"}
	// ErrLineNotOpen: the statement line is no longer in the unmatched queue.
	ErrLineNotOpen = &Error{Code: "line_not_open"}
	// ErrEmptyStatement: the file holds no transactions.
	ErrEmptyStatement = &Error{Code: "empty_statement", Field: "file"}
	// ErrEmptyBill: the channel bill holds no trades.
	ErrEmptyBill = &Error{Code: "empty_bill", Field: "file"}
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
	ErrRefundExceedsPaid = &Error{Code: "refund_exceeds_paid", Field: "amount"}
	// ErrRefundPending: a refund of this order is already requested.
	ErrRefundPending = &Error{Code: "refund_pending"}
	// ErrNoRefunder: refunds are not wired (no Refunder).
	ErrNoRefunder = &Error{Code: "no_refunder"}
	// ErrNoServiceKeys: service keys are not wired (no Keys).
	ErrNoServiceKeys = &Error{Code: "no_service_keys"}
	// ErrInvalidKeyName: a service key's name is empty or too long.
	ErrInvalidKeyName = &Error{Code: "invalid_key_name", Field: "name"}
	// ErrInvalidKeyMode: a service key's mode is neither live nor test.
	ErrInvalidKeyMode = &Error{Code: "invalid_key_mode", Field: "mode"}
	// ErrKeyNotFound: no such service key.
	ErrKeyNotFound = &Error{Code: "key_not_found"}
	// ErrKeyRevoked: the service key was already revoked.
	ErrKeyRevoked = &Error{Code: "key_revoked"}
	// ErrInvalidFilter: a list filter names an unknown value, or its page cursor is malformed.
	ErrInvalidFilter = &Error{Code: "invalid_filter"}
)

// Code returns the code of a back-office error, or "" for any other error.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
