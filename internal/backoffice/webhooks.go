package backoffice

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/webhook"
)

// Audited webhook actions of staff.
const (
	ActionWebhookReplayed = Action("webhook_replayed")          // staff replayed one event to one endpoint
	ActionWebhookDisabled = Action("webhook_endpoint_disabled") // staff disabled a webhook endpoint
	ActionWebhookEnabled  = Action("webhook_endpoint_enabled")  // staff re-enabled a webhook endpoint
)

// WebhookActions lists the webhook actions, for the audit page's filter.
var WebhookActions = []Action{ActionWebhookReplayed, ActionWebhookDisabled, ActionWebhookEnabled}

// Errors of the webhook desk.
var (
	// ErrNoWebhooks: the webhook desk is not wired (no Webhooks).
	ErrNoWebhooks = &Error{Code: "no_webhooks"}
	// ErrWebhookNotFound: no such endpoint or delivery attempt.
	ErrWebhookNotFound = &Error{Code: "webhook_not_found"}
	// ErrWebhookDisabled: the endpoint is disabled, so nothing is replayed to it.
	ErrWebhookDisabled = &Error{Code: "webhook_disabled"}
	// ErrWebhookDeleted: the platform deleted the endpoint; staff may not
	// turn it back on.
	ErrWebhookDeleted = &Error{Code: "webhook_deleted"}
)

// WebhookRoles may see webhook deliveries, replay them and switch
// endpoints: support answers the platform's "we missed an event", admins
// run the system. Finance has no business with them.
var WebhookRoles = []auth.Role{auth.RoleSupport, auth.RoleAdmin}

// WebhookDesk is the webhook store as the back office uses it;
// *webhook.Service satisfies it.
type WebhookDesk interface {
	EndpointsHealth(ctx context.Context, f webhook.EndpointFilter, now time.Time) ([]webhook.EndpointHealth, error)
	EndpointHealthOf(ctx context.Context, id int64, now time.Time) (webhook.EndpointHealth, error)
	EventLog(ctx context.Context, endpointID, before int64, limit int) ([]webhook.EventDeliveries, int64, error)
	ReplayTx(ctx context.Context, tx pgx.Tx, deliveryID, requestedBy int64) (webhook.Replay, error)
	SetActiveTx(ctx context.Context, tx pgx.Tx, endpointID int64, active bool) (webhook.Endpoint, bool, error)
}

func (s *Service) webhookDesk(a Actor) (WebhookDesk, error) {
	if err := a.require(WebhookRoles...); err != nil {
		return nil, err
	}
	if s.opt.Webhooks == nil {
		return nil, ErrNoWebhooks
	}
	return s.opt.Webhooks, nil
}

// webhookErr turns the webhook package's errors into the back office's.
func webhookErr(err error) error {
	switch {
	case errors.Is(err, webhook.ErrNotFound), errors.Is(err, webhook.ErrDeliveryNotFound):
		return ErrWebhookNotFound
	case errors.Is(err, webhook.ErrEndpointInactive):
		return ErrWebhookDisabled
	case errors.Is(err, webhook.ErrEndpointDeleted):
		return ErrWebhookDeleted
	}
	return err
}

// WebhookEndpoints lists webhook endpoints (of one account, or all), newest
// first, each with its health. Support and admins. Errors: ErrForbidden,
// ErrNoWebhooks.
func (s *Service) WebhookEndpoints(ctx context.Context, a Actor, f webhook.EndpointFilter) ([]webhook.EndpointHealth, error) {
	desk, err := s.webhookDesk(a)
	if err != nil {
		return nil, err
	}
	return desk.EndpointsHealth(ctx, f, s.now())
}

// WebhookEndpoint is one endpoint with its health and one page of its
// events with every attempt (before: the cursor EventLog returned, 0 for
// the newest); it returns the next page's cursor. Support and admins.
// Errors: ErrForbidden, ErrNoWebhooks, ErrWebhookNotFound.
func (s *Service) WebhookEndpoint(ctx context.Context, a Actor, id, before int64) (webhook.EndpointHealth, []webhook.EventDeliveries, int64, error) {
	desk, err := s.webhookDesk(a)
	if err != nil {
		return webhook.EndpointHealth{}, nil, 0, err
	}
	h, err := desk.EndpointHealthOf(ctx, id, s.now())
	if err != nil {
		return webhook.EndpointHealth{}, nil, 0, webhookErr(err)
	}
	events, next, err := desk.EventLog(ctx, id, before, 20)
	if err != nil {
		return webhook.EndpointHealth{}, nil, 0, err
	}
	return h, events, next, nil
}

// ReplayWebhook sends the event of delivery attempt deliveryID to its
// endpoint again — same event id and body, so a receiver that has it drops
// it, with a fresh signature — and audits it in the same transaction.
// Support and admins. Errors: ErrForbidden, ErrNoWebhooks,
// ErrWebhookNotFound, ErrWebhookDisabled.
func (s *Service) ReplayWebhook(ctx context.Context, a Actor, deliveryID int64) (webhook.Replay, error) {
	desk, err := s.webhookDesk(a)
	if err != nil {
		return webhook.Replay{}, err
	}
	var r webhook.Replay
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if r, err = desk.ReplayTx(ctx, tx, deliveryID, a.User.ID); err != nil {
			return webhookErr(err)
		}
		e := staffEntry(a, ActionWebhookReplayed, r.AccountID)
		e.Detail = map[string]any{"endpoint_id": r.EndpointID, "event_id": r.EventID, "event_type": r.EventType,
			"replay": r.Number, "delivery_id": deliveryID}
		_, err = Audit(ctx, tx, e)
		return err
	})
	return r, err
}

// SetWebhookEndpointActive disables (active false) or re-enables an
// endpoint and audits the change in the same transaction (nothing is
// audited when nothing changed); it reports whether it changed. Support
// and admins. Errors: ErrForbidden, ErrNoWebhooks, ErrWebhookNotFound,
// ErrWebhookDeleted.
func (s *Service) SetWebhookEndpointActive(ctx context.Context, a Actor, id int64, active bool) (bool, error) {
	desk, err := s.webhookDesk(a)
	if err != nil {
		return false, err
	}
	var changed bool
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		ep, ch, err := desk.SetActiveTx(ctx, tx, id, active)
		if err != nil {
			return webhookErr(err)
		}
		if changed = ch; !ch {
			return nil
		}
		action := ActionWebhookDisabled
		if active {
			action = ActionWebhookEnabled
		}
		e := staffEntry(a, action, ep.AccountID)
		e.Detail = map[string]any{"endpoint_id": ep.ID, "url": ep.URL}
		_, err = Audit(ctx, tx, e)
		return err
	})
	return changed, err
}
