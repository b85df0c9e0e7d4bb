package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/seed75218f88/credits/internal/webhook"
)

// WebhookView is a webhook endpoint as the API shows it. Secret (whsec_…,
// the HMAC key of the Credits-Signature header) is set only in the answer
// that creates the endpoint: it is never shown again.
type WebhookView struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// WebhookInput is the body of POST /v1/accounts/{external_id}/webhooks.
type WebhookInput struct {
	URL string `json:"url"`
}

// CreateWebhook registers an endpoint receiving the account's events
// (balance.low, lot.expiring) and returns it with its signing secret.
// Errors: ErrNotFound, ErrInvalidRequest (not an absolute http(s) URL, or
// plain http where https is required).
func (s *Service) CreateWebhook(ctx context.Context, key Key, externalID string, in WebhookInput) (WebhookView, error) {
	a, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return WebhookView{}, err
	}
	if in.URL == "" || len(in.URL) > 2000 {
		return WebhookView{}, invalid("url", "an absolute http(s) URL of at most 2,000 characters")
	}
	ep, secret, err := s.webhooks.CreateEndpoint(ctx, a.acct.ID, in.URL)
	if errors.Is(err, webhook.ErrInvalidURL) {
		return WebhookView{}, invalid("url", err.Error())
	}
	if err != nil {
		return WebhookView{}, err
	}
	return WebhookView{ID: ep.ID, URL: ep.URL, Secret: secret, CreatedAt: ep.CreatedAt}, nil
}

// Webhooks lists the account's endpoints that receive events, oldest first.
// Errors: ErrNotFound.
func (s *Service) Webhooks(ctx context.Context, key Key, externalID string) ([]WebhookView, error) {
	a, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return nil, err
	}
	eps, err := s.webhooks.Endpoints(ctx, a.acct.ID)
	if err != nil {
		return nil, err
	}
	out := []WebhookView{}
	for _, ep := range eps {
		if ep.Active {
			out = append(out, WebhookView{ID: ep.ID, URL: ep.URL, CreatedAt: ep.CreatedAt})
		}
	}
	return out, nil
}

// DeleteWebhook stops an endpoint of the account from receiving events;
// deleting it again is a no-op. The row stays (disabled), because its
// delivery log refers to it. Errors: ErrNotFound (no such endpoint of
// this account in the key's mode).
func (s *Service) DeleteWebhook(ctx context.Context, key Key, externalID string, id int64) error {
	a, err := s.account(ctx, key.Mode, externalID)
	if err != nil {
		return err
	}
	err = s.webhooks.SetActive(ctx, a.acct.ID, id, false)
	if errors.Is(err, webhook.ErrNotFound) {
		return ErrNotFound
	}
	return err
}
