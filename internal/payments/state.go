package payments

// State is a payment order's state.
type State string

// Order states.
const (
	StateCreated           State = "created"            // stored, QR not yet made
	StatePending           State = "pending"            // shown to the customer, awaiting payment
	StatePaid              State = "paid"               // paid and credited
	StateClosed            State = "closed"             // expired or closed unpaid
	StateFailed            State = "failed"             // the channel refused the order or the payment failed
	StateNeedsReview       State = "needs_review"       // money arrived that does not fit the order: finance decides
	StatePartiallyRefunded State = "partially_refunded" // paid, part refunded
	StateRefunded          State = "refunded"           // paid, fully refunded
)

// transitions lists the allowed state changes. closed → paid and
// needs_review → paid are staff decisions (a bank transfer matched after its
// order expired, a reviewed payment accepted); a channel's notify never
// takes them: a payment for a closed order goes to needs_review.
var transitions = map[State][]State{
	StateCreated:           {StatePending, StatePaid, StateFailed, StateClosed, StateNeedsReview},
	StatePending:           {StatePaid, StateClosed, StateFailed, StateNeedsReview},
	StateClosed:            {StateNeedsReview, StatePaid},
	StateFailed:            {StateNeedsReview},
	StateNeedsReview:       {StatePaid, StateClosed},
	StatePaid:              {StatePartiallyRefunded, StateRefunded},
	StatePartiallyRefunded: {StatePartiallyRefunded, StateRefunded},
	StateRefunded:          {},
}

// CanTransition reports whether an order may go from one state to another.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Open reports whether the order still awaits payment.
func (s State) Open() bool { return s == StateCreated || s == StatePending }

// Paid reports whether the order was paid and credited (refunds may have followed).
func (s State) Paid() bool {
	return s == StatePaid || s == StatePartiallyRefunded || s == StateRefunded
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	_, ok := transitions[s]
	return ok
}

// Transition causes recorded with each state change.
const (
	CauseCreate          = "create"           // the order was made
	CauseQRCreated       = "qr_created"       // the channel accepted the order
	CauseChannelError    = "channel_error"    // the channel refused to create it
	CauseNotify          = "notify"           // a verified notify from the channel
	CauseSync            = "sync"             // the sync job's query at the channel
	CauseExpired         = "expired"          // past its expiry, closed by the sync job
	CauseMismatch        = "channel_mismatch" // amount, merchant or app id differ from the order
	CausePaidAfterClosed = "paid_after_closed"
	CauseBankStatement   = "bank_statement" // matched to a bank statement line
	CauseRefund          = "refund"
	CauseReviewAccepted  = "review_accepted" // staff accepted a reviewed payment
	CauseReviewRejected  = "review_rejected" // staff refunded a reviewed payment
	CauseCancelled       = "cancelled"       // the customer closed the checkout
)

// PayMode is how a WeChat Pay or Alipay order is paid (payment_orders.pay_mode).
type PayMode string

// Pay modes.
const (
	PayModeQR    PayMode = "qr"    // a code scanned with the app (Native, 当面付); also bank transfers
	PayModePhone PayMode = "phone" // the app opened from a phone browser (WeChat Pay H5, Alipay WAP)
)
