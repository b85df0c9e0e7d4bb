package reconcile

import (
	"strings"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/refcode"
)

// OpenOrder is a bank-transfer order as the matcher needs to see it, found by
// its reference code — or a credit line's bill, which carries a reference
// code of its own (BillID set, OrderNo empty).
type OpenOrder struct {
	OrderNo string
	// BillID is the credit line bill the code belongs to (0: an order).
	BillID int64
	// Code is the order's reference code (normalized, unformatted).
	Code   string
	Amount decimal.Decimal
	// VerifiedPayer is the customer's verified company name; when set, the
	// statement's payer name must be the same company. Empty skips the check.
	VerifiedPayer string
	// Paid is true once the order has been paid (by an earlier line).
	Paid bool
}

// Reason says why a statement line was or was not matched automatically.
type Reason string

// Match reasons. Every reason but ReasonMatched sends a credit line to the
// unmatched queue for finance.
const (
	ReasonMatched       Reason = "matched"
	ReasonNoCode        Reason = "no_code"        // no reference code in the memo
	ReasonBadCheck      Reason = "bad_check"      // a code-like text whose check character fails
	ReasonUnknownCode   Reason = "unknown_code"   // a valid code no transfer order has
	ReasonAmountDiffers Reason = "amount_differs" // the order is for another amount
	ReasonPayerDiffers  Reason = "payer_differs"  // the payer is not the verified company
	ReasonAlreadyPaid   Reason = "already_paid"   // a second payment for one order
	ReasonMultipleCodes Reason = "multiple_codes" // the memo names several orders
	ReasonDebit         Reason = "debit"          // money out: never matched
	// A credit line bill's code: the line is not the bill's amount (a bill
	// is paid whole), or the bill was paid already.
	ReasonBillAmountDiffers Reason = "bill_amount_differs"
	ReasonBillPaid          Reason = "bill_paid"
)

// MatchResult is the matcher's verdict on one statement line.
type MatchResult struct {
	Reason Reason
	// Code is the reference code the verdict is about (the valid code that
	// was looked up, or the look-alike for ReasonBadCheck); empty otherwise.
	Code string
	// Order is the order the code belongs to; set (Found) for matched,
	// amount_differs, payer_differs and already_paid.
	Order OpenOrder
	Found bool
}

// Matched reports whether the line completes Order automatically.
func (m MatchResult) Matched() bool { return m.Reason == ReasonMatched }

// MatchTransfer decides whether a statement line pays a bank-transfer order:
// a credit line whose memo holds the valid reference code of an unpaid order
// with the same amount (and, when the customer's company is verified, from
// that company) is ReasonMatched. A bill's code is matched by the same rule
// (a wrong amount is ReasonBillAmountDiffers, a paid bill ReasonBillPaid). Everything else gets the reason it goes to
// the unmatched queue. lookup is called with normalized valid codes only.
// The function is pure: crediting the order and recording the result is the
// caller's, in one transaction.
func MatchTransfer(line StatementLine, lookup func(code string) (OpenOrder, bool)) MatchResult {
	if line.Direction != Credit {
		return MatchResult{Reason: ReasonDebit}
	}
	var badCode, unknownCode string
	var found []OpenOrder
	var foundCodes []string
	for _, c := range refcode.FindInMemo(line.Memo) {
		switch o, ok := lookupValid(c, lookup); {
		case !c.Valid:
			if badCode == "" {
				badCode = c.Code
			}
		case ok:
			found = append(found, o)
			foundCodes = append(foundCodes, c.Code)
		case unknownCode == "":
			unknownCode = c.Code
		}
	}
	switch {
	case len(found) > 0:
	case unknownCode != "":
		return MatchResult{Reason: ReasonUnknownCode, Code: unknownCode}
	case badCode != "":
		return MatchResult{Reason: ReasonBadCheck, Code: badCode}
	default:
		return MatchResult{Reason: ReasonNoCode}
	}
	if len(found) > 1 {
		return MatchResult{Reason: ReasonMultipleCodes, Code: strings.Join(foundCodes, ",")}
	}
	res := MatchResult{Order: found[0], Found: true, Code: foundCodes[0]}
	switch {
	case res.Order.Paid:
		res.Reason = ReasonAlreadyPaid
	case !res.Order.Amount.Equal(line.Amount):
		res.Reason = ReasonAmountDiffers
	case res.Order.VerifiedPayer != "" && !SamePayer(res.Order.VerifiedPayer, line.PayerName):
		res.Reason = ReasonPayerDiffers
	default:
		res.Reason = ReasonMatched
	}
	if res.Order.BillID != 0 {
		switch res.Reason {
		case ReasonAmountDiffers:
			res.Reason = ReasonBillAmountDiffers
		case ReasonAlreadyPaid:
			res.Reason = ReasonBillPaid
		}
	}
	return res
}

func lookupValid(c refcode.Candidate, lookup func(string) (OpenOrder, bool)) (OpenOrder, bool) {
	if !c.Valid {
		return OpenOrder{}, false
	}
	return lookup(c.Code)
}

// SamePayer reports whether a bank's payer name (对方户名) names the verified
// company: equal once full-width characters are folded (（）→ ()), spaces
// removed and Latin letters upper-cased.
func SamePayer(verified, payer string) bool {
	n := func(s string) string {
		return strings.ToUpper(strings.NewReplacer(" ", "", "\u3000", "").Replace(fold(s)))
	}
	return n(verified) != "" && n(verified) == n(payer)
}
