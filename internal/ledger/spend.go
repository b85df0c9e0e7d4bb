package ledger

import (
	"slices"
	"time"
)

// kindRank orders lot kinds for spending on equal expiry: granted credit
// (grace, promo, plan) before paid credit.
func kindRank(k LotKind) int {
	if k == LotPaid {
		return 1
	}
	return 0
}

// SpendsBefore reports whether lot a is spent before lot b: the credit
// line (LotCredit) after every other lot; then the lot that expires
// soonest first, lots without expiry last; on equal expiry granted
// kinds (grace, promo, plan) before paid; then the oldest, then the lower id.
// It is the Go reading of the spending order, used to present lots in the
// order they are spent; the one SQL definition is ledger_spend_order
// (schema/functions.sql), which every spending function calls, and the
// model-based test checks the two agree.
func SpendsBefore(a, b Lot) bool {
	if ca, cb := a.Kind == LotCredit, b.Kind == LotCredit; ca != cb {
		return cb
	}
	switch {
	case a.ExpiresAt == nil && b.ExpiresAt != nil:
		return false
	case a.ExpiresAt != nil && b.ExpiresAt == nil:
		return true
	case a.ExpiresAt != nil && !a.ExpiresAt.Equal(*b.ExpiresAt):
		return a.ExpiresAt.Before(*b.ExpiresAt)
	}
	if ra, rb := kindRank(a.Kind), kindRank(b.Kind); ra != rb {
		return ra < rb
	}
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

// SpendOrder returns the lots that can be spent at now (remaining > 0, not
// expired) in the order they are spent.
func SpendOrder(lots []Lot, now time.Time) []Lot {
	out := make([]Lot, 0, len(lots))
	for _, l := range lots {
		if l.Remaining.IsPositive() && (l.ExpiresAt == nil || l.ExpiresAt.After(now)) {
			out = append(out, l)
		}
	}
	slices.SortStableFunc(out, func(a, b Lot) int {
		switch {
		case SpendsBefore(a, b):
			return -1
		case SpendsBefore(b, a):
			return 1
		}
		return 0
	})
	return out
}
