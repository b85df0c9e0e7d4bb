package admin

import "time"

// CustomerEntitlementRow is one entitlement on the customer page.
type CustomerEntitlementRow struct {
	Product string // name in the reader's language
	Kind    string
	OrderNo string
	Since   time.Time
	Until   *time.Time // nil: no end
	State   string     // active, ended, revoked
}
