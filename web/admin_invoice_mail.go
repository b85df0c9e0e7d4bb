package web

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
)

// InvoiceIssuedMail returns the invoicing.Options.OnIssued hook that emails
// an issued invoice's PDF to the receiving address of its request. It runs
// inside Issue's transaction and only enqueues the mail job (mail.EnqueueTx),
// so the mail leaves once the issue commits and never if it rolls back.
// The text is in Chinese, then English.
func InvoiceIssuedMail(ins jobs.Inserter, bundle *i18n.Bundle) func(ctx context.Context, tx pgx.Tx, inv invoicing.Invoice, pdf []byte) error {
	return func(ctx context.Context, tx pgx.Tx, inv invoicing.Invoice, pdf []byte) error {
		return mail.EnqueueTx(ctx, ins, tx, InvoiceMessage(bundle, inv, pdf))
	}
}

// InvoiceMessage is the email carrying an issued invoice's PDF.
func InvoiceMessage(bundle *i18n.Bundle, inv invoicing.Invoice, pdf []byte) mail.Message {
	text := func(lang string) (subject, body string) {
		l := bundle.Localizer(lang)
		date := ""
		if inv.IssuedOn != nil {
			date = format.Date(*inv.IssuedOn)
		}
		data := map[string]string{"Number": inv.Number, "Kind": l.T("invoice.kind." + string(inv.Kind)), "Buyer": inv.Buyer.Name,
			"Amount": format.Money(fenDecimal(inv.AmountFen)), "Date": date}
		return l.Tf("mail.invoice.subject", data), l.Tf("mail.invoice.body", data)
	}
	subject, zh := text(i18n.ZhCN)
	_, en := text(i18n.En)
	return mail.Message{
		To:      []string{inv.Email},
		Subject: subject,
		Text:    zh + "\n\n——\n\n" + en,
		Attachments: []mail.Attachment{{
			Name: fmt.Sprintf("invoice-%s.pdf", inv.Number), ContentType: "application/pdf", Data: pdf,
		}},
	}
}
