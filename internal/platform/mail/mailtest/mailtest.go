// Package mailtest runs a real SMTP server (emersion/go-smtp) on localhost for
// tests, capturing every message and parsing it the way a mail client would:
// decoded subject, text and HTML bodies, attachments.
//
//	srv := mailtest.NewServer(t)
//	sender := srv.Sender(t)            // a mail.SMTPSender pointed at it
//	... code under test sends mail ...
//	msgs := srv.Wait(t, 1)             // waits for one message
//	require.Equal(t, "余额不足提醒", msgs[0].Subject)
package mailtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	stdmail "net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/seed75218f88/credits/internal/platform/mail"
)

// Server is a capturing SMTP server on 127.0.0.1.
type Server struct {
	Host string
	Port int

	srv      *smtp.Server
	mu       sync.Mutex
	received []*Received
	notify   chan struct{}
	user     string
	password string
}

// Received is one captured message, parsed.
type Received struct {
	From        string   // envelope sender
	To          []string // envelope recipients
	AuthUser    string   // the user that authenticated, if any
	Header      stdmail.Header
	Subject     string // decoded
	Text        string // the text/plain part, decoded
	HTML        string // the text/html part, decoded
	Attachments []mail.Attachment
	Raw         []byte
}

// NewServer starts a server that accepts every message; it stops when the
// test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s := &Server{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, notify: make(chan struct{}, 1)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s}, nil
	}))
	s.srv.Domain = "mailtest.localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// RequireAuth makes the server refuse mail unless the client logged in
// with AUTH PLAIN as user/password.
func (s *Server) RequireAuth(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.password = user, password
}

// Config is an SMTPConfig pointing at the server (plain text, no login).
func (s *Server) Config() mail.SMTPConfig {
	return mail.SMTPConfig{
		Host: s.Host, Port: s.Port, TLS: mail.TLSNone,
		From: "Credits <billing@credits.test>", Timeout: 10 * time.Second,
	}
}

// Sender is a mail.SMTPSender delivering to the server.
func (s *Server) Sender(t testing.TB) *mail.SMTPSender {
	t.Helper()
	sender, err := mail.NewSMTP(s.Config())
	if err != nil {
		t.Fatalf("mailtest: sender: %v", err)
	}
	return sender
}

// Messages returns what was received so far, oldest first.
func (s *Server) Messages() []*Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Received(nil), s.received...)
}

// Wait waits up to 10 seconds until at least n messages arrived and returns
// them all; it fails the test otherwise.
func (s *Server) Wait(t testing.TB, n int) []*Received {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if msgs := s.Messages(); len(msgs) >= n {
			return msgs
		}
		select {
		case <-s.notify:
		case <-deadline:
			t.Fatalf("mailtest: waited for %d messages, got %d", n, len(s.Messages()))
		}
	}
}

// MessagesTo returns the messages addressed to to, oldest first.
func (s *Server) MessagesTo(to string) []*Received {
	var mine []*Received
	for _, m := range s.Messages() {
		if slices.Contains(m.To, to) {
			mine = append(mine, m)
		}
	}
	return mine
}

// WaitTo is Wait for the messages addressed to to alone: a test that shares
// its database's mail queue with other tests (whose queued mail a worker
// may deliver here too) waits for and reads only its own.
func (s *Server) WaitTo(t testing.TB, to string, n int) []*Received {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		mine := s.MessagesTo(to)
		if len(mine) >= n {
			return mine
		}
		select {
		case <-s.notify:
		case <-deadline:
			t.Fatalf("mailtest: waited for %d messages to %s, got %d", n, to, len(mine))
		}
	}
}

func (s *Server) add(r *Received) {
	s.mu.Lock()
	s.received = append(s.received, r)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

type session struct {
	srv      *Server
	from     string
	to       []string
	authUser string
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		ss.srv.mu.Lock()
		user, pass := ss.srv.user, ss.srv.password
		ss.srv.mu.Unlock()
		if user != "" && (username != user || password != pass) {
			return errors.New("invalid username or password")
		}
		ss.authUser = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.srv.mu.Lock()
	needAuth := ss.srv.user != ""
	ss.srv.mu.Unlock()
	if needAuth && ss.authUser == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := Parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "mailtest: unparsable message: " + err.Error()}
	}
	msg.From, msg.To, msg.AuthUser = ss.from, ss.to, ss.authUser
	ss.srv.add(msg)
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

var wordDecoder = &mime.WordDecoder{}

// Parse reads a MIME message (as sent, or an .eml file written by the
// DevSender) into its decoded parts.
func Parse(raw []byte) (*Received, error) {
	m, err := stdmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("mailtest: read message: %w", err)
	}
	r := &Received{Raw: raw, Header: m.Header}
	if r.Subject, err = wordDecoder.DecodeHeader(m.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("mailtest: subject: %w", err)
	}
	err = r.walk(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Header.Get("Content-Disposition"), m.Body)
	return r, err
}

func (r *Received) walk(contentType, cte, disposition string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain; charset=utf-8"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("mailtest: content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("mailtest: part: %w", err)
			}
			if err := r.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.Header.Get("Content-Disposition"), p); err != nil {
				return err
			}
		}
	}
	data, err := decode(cte, body)
	if err != nil {
		return err
	}
	dispType, dispParams, _ := mime.ParseMediaType(disposition)
	switch {
	case dispType == "attachment" || dispType == "inline" && dispParams["filename"] != "":
		name := dispParams["filename"]
		if name == "" {
			name = params["name"]
		}
		if dec, err := wordDecoder.DecodeHeader(name); err == nil {
			name = dec
		}
		r.Attachments = append(r.Attachments, mail.Attachment{Name: name, ContentType: mediaType, Data: data})
	case mediaType == "text/plain" && r.Text == "":
		r.Text = string(data)
	case mediaType == "text/html" && r.HTML == "":
		r.HTML = string(data)
	}
	return nil
}

func decode(cte string, body io.Reader) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, newlineStripper{body}))
		if err != nil {
			return nil, fmt.Errorf("mailtest: base64 body: %w", err)
		}
		return b, nil
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(body))
	default:
		return io.ReadAll(body)
	}
}

// newlineStripper drops CR and LF so base64 lines decode as one stream.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
