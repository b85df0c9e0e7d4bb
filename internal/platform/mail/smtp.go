package mail

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes for SMTPConfig.TLS.
const (
	TLSStartTLS = "starttls" // STARTTLS required (default)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // plain text: only for a relay on localhost
)

// SMTPConfig is how to reach the outgoing mail server.
type SMTPConfig struct {
	Host     string
	Port     int
	User     string // empty: no authentication
	Password string
	From     string // e.g. `算力账单 <billing@example.com>`
	TLS      string // TLSStartTLS, TLSImplicit or TLSNone
	Timeout  time.Duration
}

func (c SMTPConfig) validate() error {
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("MAIL_FROM %q is not an email address: %w", c.From, err)
	}
	switch c.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return fmt.Errorf("SMTP_TLS must be starttls, tls or none, not %q", c.TLS)
	}
	return nil
}

// SMTPSender sends each Message over its own SMTP connection.
type SMTPSender struct {
	cfg SMTPConfig
}

// NewSMTP checks cfg and returns a sender; it does not connect yet.
func NewSMTP(cfg SMTPConfig) (*SMTPSender, error) {
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &SMTPSender{cfg: cfg}, nil
}

// Send delivers msg. It fails with ErrNoRecipient, ErrInvalidAddress or
// ErrEmptyMessage for a message that can never be sent, or with the SMTP
// server's error, which is worth retrying.
func (s *SMTPSender) Send(ctx context.Context, msg Message) error {
	m, err := build(s.cfg.From, msg)
	if err != nil {
		return err
	}
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.User != "" {
		auth := gomail.SMTPAuthAutoDiscover // the strongest the server offers
		if s.cfg.TLS == TLSNone {
			// The operator chose a plain-text relay; go-mail refuses PLAIN
			// without TLS unless told so explicitly.
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(s.cfg.User), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("mail: smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("mail: send to %s via %s:%d: %w", strings.Join(msg.To, ","), s.cfg.Host, s.cfg.Port, err)
	}
	return nil
}

// build renders msg as a MIME message in UTF-8: headers such as a Chinese
// subject are RFC 2047 encoded, bodies quoted-printable, attachments base64.
func build(from string, msg Message) (*gomail.Msg, error) {
	if err := msg.Validate(); err != nil {
		return nil, err
	}
	m := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP))
	if err := m.From(from); err != nil {
		return nil, fmt.Errorf("%w: from %q", ErrInvalidAddress, from)
	}
	if err := m.To(msg.To...); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidAddress, err)
	}
	m.Subject(msg.Subject)
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	for _, a := range msg.Attachments {
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		if err := m.AttachReader(a.Name, bytes.NewReader(a.Data),
			gomail.WithFileContentType(gomail.ContentType(ct))); err != nil {
			return nil, fmt.Errorf("mail: attach %s: %w", a.Name, err)
		}
	}
	return m, nil
}
