package backoffice

import (
	"context"
	"fmt"

	"github.com/seed75218f88/credits/internal/auth"
)

// Identities is what the back office needs from real-name verification
// (package verification).
type Identities interface {
	// IdentityOf returns the account's current verification, masked.
	IdentityOf(ctx context.Context, accountID int64) (Identity, error)
	// AccountsByCompanyName returns the accounts verified as a company
	// whose name contains part, exact names first, at most limit.
	AccountsByCompanyName(ctx context.Context, part string, limit int) ([]int64, error)
}

// Identity is an account's real-name verification as staff see it: masked
// values only.
type Identity struct {
	// State is "unverified", "pending", "verified" or "rejected".
	State string
	// Subject is "individual" or "enterprise"; empty when nothing was
	// submitted or a gateway client vouched for the account.
	Subject string
	// Name is masked for a person (张*) and in full for a company (public).
	Name         string
	MaskedNumber string
}

// PayerCandidateLimit is the most candidates FindPayerCandidates returns:
// a form to pick from, not a report.
const PayerCandidateLimit = 10

// PayerCandidate is a customer finance may credit an unmatched statement
// line to, with what tells whether it paid: its verification and its
// transfer orders still awaiting payment.
type PayerCandidate struct {
	Customer
	// Identity is the zero value when Identities is not wired.
	Identity Identity
	// OpenOrders are nil when TransferOrders is not wired.
	OpenOrders []TransferOrder
}

// PayerSearch is what FindPayerCandidates found.
type PayerSearch struct {
	Candidates []PayerCandidate
	// More is true when the search matched more than PayerCandidateLimit
	// customers: the query should be narrowed.
	More bool
}

// FindPayerCandidates searches customers for the unmatched queue's resolve
// form exactly as FindCustomers does (a payer's name finds a verified
// company or a customer's name, a reference code its order's account), and
// adds each hit's masked verification and open transfer orders. Finance
// only. Errors: ErrForbidden.
func (s *Service) FindPayerCandidates(ctx context.Context, query string, actor Actor) (PayerSearch, error) {
	var out PayerSearch
	if err := actor.require(auth.RoleFinance); err != nil {
		return out, err
	}
	found, err := s.FindCustomers(ctx, query, actor)
	if err != nil {
		return out, err
	}
	if len(found) > PayerCandidateLimit {
		found, out.More = found[:PayerCandidateLimit], true
	}
	out.Candidates = make([]PayerCandidate, 0, len(found))
	for _, c := range found {
		pc := PayerCandidate{Customer: c}
		if s.opt.Identities != nil {
			if pc.Identity, err = s.opt.Identities.IdentityOf(ctx, c.Account.ID); err != nil {
				return out, fmt.Errorf("backoffice: payer candidates: %w", err)
			}
		}
		if s.opt.TransferOrders != nil {
			if pc.OpenOrders, err = s.opt.TransferOrders.OpenOrdersOf(ctx, c.Account.ID); err != nil {
				return out, fmt.Errorf("backoffice: payer candidates: %w", err)
			}
		}
		out.Candidates = append(out.Candidates, pc)
	}
	return out, nil
}
