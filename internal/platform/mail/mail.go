// Package mail sends the platform's email: receipts, invoices, low-balance
// alerts and sign-in links. Senders deliver one Message; SendArgs is the River
// job that sends a Message after the caller's transaction commits, so a
// request never waits on an SMTP server and a rolled-back use case sends
// nothing.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Message is one email. Text is required (every client can show it); HTML is
// an optional alternative of the same content.
type Message struct {
	To          []string     `json:"to"`
	Subject     string       `json:"subject"`
	Text        string       `json:"text"`
	HTML        string       `json:"html,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Attachment is a file sent with a Message, such as an invoice PDF.
type Attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Data        []byte `json:"data"`
}

// Sender delivers a Message now. Implementations: SMTPSender (production)
// and DevSender (writes .eml files).
type Sender interface {
	Send(ctx context.Context, msg Message) error
}

// Errors a Message can fail validation with; they never succeed on retry.
var (
	ErrNoRecipient    = errors.New("mail: message has no recipient")
	ErrInvalidAddress = errors.New("mail: invalid address")
	ErrEmptyMessage   = errors.New("mail: message has no subject or no text body")
)

// Validate reports whether msg can be sent at all: at least one recipient,
// every address well formed, a subject and a text body.
func (msg Message) Validate() error {
	if len(msg.To) == 0 {
		return ErrNoRecipient
	}
	for _, to := range msg.To {
		if _, err := mail.ParseAddress(to); err != nil || strings.ContainsAny(to, "\r\n") {
			return fmt.Errorf("%w: %q", ErrInvalidAddress, to)
		}
	}
	if strings.TrimSpace(msg.Subject) == "" || strings.TrimSpace(msg.Text) == "" {
		return ErrEmptyMessage
	}
	return nil
}
