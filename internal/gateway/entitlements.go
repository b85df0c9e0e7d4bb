package gateway

import (
	"context"
	"time"

	"github.com/seed75218f88/credits/internal/products"
)

// EntitlementSource lists an account's entitlements (products.Service).
type EntitlementSource interface {
	Entitlements(ctx context.Context, accountID int64) ([]products.Entitlement, error)
}

// EntitlementView is one entitlement as the API shows it.
type EntitlementView struct {
	ID             int64         `json:"id"`
	Product        string        `json:"product"`
	ProductVersion int           `json:"product_version"`
	Kind           products.Kind `json:"kind"`
	OrderNo        string        `json:"order_no"`
	Since          time.Time     `json:"since"`
	// Until is null for an unlimited entitlement.
	Until     *time.Time `json:"until"`
	JobCount  *int       `json:"job_count,omitempty"`
	Active    bool       `json:"active"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// EntitlementsView is the answer of GET /v1/accounts/{id}/entitlements.
type EntitlementsView struct {
	Account      string            `json:"account"`
	Entitlements []EntitlementView `json:"entitlements"`
}

// Entitlements lists the account's entitlements, newest first: each with
// whether it is active now (not revoked by a refund, begun, not ended).
// The account is looked up in the key's mode, like every /v1/accounts
// route. Errors: ErrNotFound.
func (s *Service) Entitlements(ctx context.Context, key Key, externalID string) (EntitlementsView, error) {
	a, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return EntitlementsView{}, err
	}
	v := EntitlementsView{Account: externalID, Entitlements: []EntitlementView{}}
	if s.ents == nil {
		return v, nil
	}
	es, err := s.ents.Entitlements(ctx, a.acct.ID)
	if err != nil {
		return v, err
	}
	now := s.now()
	for _, e := range es {
		v.Entitlements = append(v.Entitlements, EntitlementView{ID: e.ID, Product: e.ProductCode, ProductVersion: e.ProductVersion,
			Kind: e.Kind, OrderNo: e.OrderNo, Since: e.Since, Until: e.Until, JobCount: e.JobCount, Active: e.Active(now),
			RevokedAt: e.RevokedAt})
	}
	return v, nil
}
