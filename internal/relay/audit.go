package relay

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/backoffice"
)

// Audited actions of the gateway: customers' API keys and staff's upstreams.
const (
	ActionKeyCreated      backoffice.Action = "relay_key_created"      // a customer created an API key
	ActionKeyRevoked      backoffice.Action = "relay_key_revoked"      // a customer revoked an API key
	ActionUpstreamCreated backoffice.Action = "relay_upstream_created" // an admin added an upstream
	ActionUpstreamChanged backoffice.Action = "relay_upstream_changed" // an admin changed an upstream
)

// AuditActions are the actions this package writes, for the audit page's
// filter.
var AuditActions = []backoffice.Action{ActionKeyCreated, ActionKeyRevoked, ActionUpstreamCreated, ActionUpstreamChanged}

// Customer is the signed-in customer acting in the portal, as the audit
// log records them.
type Customer struct {
	UserID int64
	Email  string
	IP     string
}

func auditCustomer(ctx context.Context, tx pgx.Tx, who Customer, action backoffice.Action, accountID int64, detail map[string]any) error {
	_, err := backoffice.Audit(ctx, tx, backoffice.Entry{ActorKind: backoffice.ActorCustomer, ActorID: who.UserID,
		ActorEmail: who.Email, IP: who.IP, Action: action, AccountID: accountID, Detail: detail})
	return err
}

func auditStaff(ctx context.Context, tx pgx.Tx, a backoffice.Actor, action backoffice.Action, detail map[string]any) error {
	_, err := backoffice.Audit(ctx, tx, backoffice.Entry{ActorKind: backoffice.ActorStaff, ActorID: a.User.ID,
		ActorEmail: a.User.Email, IP: a.IP, Action: action, Detail: detail})
	return err
}
