package creditline

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
)

// Webhooks enqueues a webhook event inside the caller's transaction
// (webhook.Service).
type Webhooks interface {
	EnqueueTx(ctx context.Context, tx pgx.Tx, accountID int64, eventType string, payload any) (string, error)
}

// MailAndWebhook is the production Notifier: a bilingual mail to the
// account's billing contacts (mail.bill.<kind>) and a webhook event
// bill.<kind>, both inserted in the notice's transaction.
type MailAndWebhook struct {
	Jobs       jobs.Inserter
	Webhooks   Webhooks
	I18n       *i18n.Bundle
	Recipients func(ctx context.Context, accountID int64) ([]string, error)
	PortalURL  string // the bills page
}

// NotifyTx sends n's mail and webhook inside tx.
func (m *MailAndWebhook) NotifyTx(ctx context.Context, tx pgx.Tx, n Notice) error {
	if m.Webhooks != nil {
		if _, err := m.Webhooks.EnqueueTx(ctx, tx, n.Bill.AccountID, n.WebhookType(), n.Payload()); err != nil {
			return err
		}
	}
	if m.Recipients == nil || m.I18n == nil {
		return nil
	}
	to, err := m.Recipients(ctx, n.Bill.AccountID)
	if err != nil {
		return fmt.Errorf("recipients: %w", err)
	}
	if len(to) == 0 {
		return nil
	}
	b := n.Bill
	msg := mail.ComposeBilingual(m.I18n, "mail.bill."+string(n.Kind), func(*i18n.Localizer) any {
		return map[string]string{"Amount": money(b.AmountFen), "Period": format.Date(b.PeriodStart) + " – " + format.Date(b.PeriodEnd.AddDate(0, 0, -1)),
			"Due": format.Date(b.DueAt), "Reference": b.ReferenceCode, "URL": m.PortalURL}
	}, to...)
	return mail.EnqueueTx(ctx, m.Jobs, tx, msg)
}
