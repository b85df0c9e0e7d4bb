package invoicing

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
)

// IssuedMail returns the Options.OnIssued hook that emails an issued
// invoice's PDF to the receiving address of its request. It runs inside
// Issue's transaction and only enqueues the mail job, so the mail leaves once
// the issue commits and never if it rolls back.
func IssuedMail(ins jobs.Inserter, bundle *i18n.Bundle) func(ctx context.Context, tx pgx.Tx, inv Invoice, pdf []byte) error {
	return func(ctx context.Context, tx pgx.Tx, inv Invoice, pdf []byte) error {
		return mail.EnqueueTx(ctx, ins, tx, IssuedMessage(bundle, inv, pdf))
	}
}

// IssuedMessage is the email carrying an issued invoice's PDF (mail.invoice),
// in Chinese then English: the address was typed on the request form, so the
// reader's language is unknown.
func IssuedMessage(bundle *i18n.Bundle, inv Invoice, pdf []byte) mail.Message {
	date := ""
	if inv.IssuedOn != nil {
		date = format.Date(*inv.IssuedOn)
	}
	msg := mail.ComposeBilingual(bundle, "mail.invoice", func(l *i18n.Localizer) any {
		return map[string]string{"Number": inv.Number, "Kind": l.T("invoice.kind." + string(inv.Kind)), "Buyer": inv.Buyer.Name,
			"Amount": format.Money(decimal.New(inv.AmountFen, -2)), "Date": date}
	}, inv.Email)
	msg.Attachments = []mail.Attachment{{
		Name: fmt.Sprintf("invoice-%s.pdf", inv.Number), ContentType: "application/pdf", Data: pdf,
	}}
	return msg
}
