package admin

import (
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// ReviewsView is the queue of payment orders under review.
type ReviewsView struct {
	Frame   Frame
	Rows    []ReviewRow
	NextURL string // the next (older) page; empty on the last
	Flash   string
	// Failed is the order whose resolve form Errors belong to.
	Failed string
	Errors Errors
}

// ReviewRow is one order under review.
type ReviewRow struct {
	OrderNo   string
	AccountID int64
	Channel   string
	Purpose   string
	Amount    decimal.Decimal // what the order quoted
	Paid      decimal.Decimal // what the channel reported paid
	Reason    string          // payments' review_reason
	At        time.Time       // when it went to review
	// CanAccept: the channel's amount equals the order's, so it may be
	// credited as quoted; otherwise the only way out is a refund.
	CanAccept bool
}

// reviewKinds are the review reasons with their own explanation.
var reviewKinds = []string{"bill_paid", "plan_in_force", "renewal_settled", "upgrade_superseded", "paid_after_closed", "channel_mismatch"}

// ReasonKey is the i18n key explaining why the order is under review, and
// the rest of the stored reason (a mismatch's fields); the key is empty for
// a reason this page does not know, then the stored text is shown as is.
func (r ReviewRow) ReasonKey() (key, rest string) {
	kind, rest, _ := strings.Cut(r.Reason, ":")
	for _, k := range reviewKinds {
		if k == kind {
			return "admin.reviews.reason." + k, strings.TrimSpace(rest)
		}
	}
	return "", r.Reason
}
