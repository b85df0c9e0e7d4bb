// Package passwordreset is the "forgot password" use case: it issues a
// one-time reset token (auth) and enqueues the mail carrying its link (a
// River mail job) in one transaction. The mail leaves exactly when its token
// exists; an unreachable SMTP server delays it (the job retries) instead of
// losing it; and the request never waits on SMTP, so answering does not take
// longer for a login that exists.
package passwordreset

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
)

// ErrNoEmail: the user signs in by mobile number only, so there is nowhere
// to send a reset link (no token is issued).
var ErrNoEmail = errors.New("passwordreset: the user has no email address")

// Service mails password-reset links.
type Service struct {
	Pool db.Querier
	Auth *auth.Service
	// Jobs enqueues the mail job inside the token's transaction (the River
	// client; its mail worker sends it).
	Jobs jobs.Inserter
	// I18n renders the mail (mail.reset.subject, mail.reset.text).
	I18n *i18n.Bundle
	// Link returns the absolute URL of the page that uses token.
	Link func(token string) string
}

// Request issues a reset token for the user who signs in with login and, in
// the same transaction, enqueues the mail carrying its link, written in lang
// (the requester's language). The link is valid for auth's ResetTokenTTL.
//
// Errors: the refusals (see Refused) auth.ErrInvalidEmail,
// auth.ErrInvalidPhone, auth.ErrNotFound, auth.ErrUserDisabled,
// auth.ErrResetThrottled and ErrNoEmail, after which nothing was issued or
// queued; otherwise the database's error.
func (s *Service) Request(ctx context.Context, login, lang string) error {
	u, err := s.Auth.UserByLogin(ctx, login)
	if err != nil {
		return err
	}
	if u.Email == "" {
		return ErrNoEmail
	}
	l := s.I18n.Localizer(lang)
	err = db.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		token, err := s.Auth.IssuePasswordResetTx(ctx, tx, u)
		if err != nil {
			return err
		}
		return mail.EnqueueTx(ctx, s.Jobs, tx,
			mail.Compose(l, "mail.reset", map[string]string{"Link": s.Link(token)}, u.Email))
	})
	if err != nil && !Refused(err) {
		return fmt.Errorf("passwordreset: %w", err)
	}
	return err
}

// Refused reports whether err is one of Request's refusals: a login that is
// malformed or unknown, a user who is disabled, has no email address or
// asked too often. The page answers a refusal exactly like a queued link, so
// that it reveals nothing about the account.
func Refused(err error) bool {
	var ae *auth.Error
	return errors.Is(err, ErrNoEmail) || errors.As(err, &ae) || errors.Is(err, fielderr.ErrInvalid)
}
