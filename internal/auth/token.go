package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// newToken returns a random URL-safe token (256 bits, 43 characters) and the
// SHA-256 that is all the database keeps of it: a leaked table grants nothing.
func newToken() (token string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ErrResetThrottled: too many password resets requested for one user
// recently (more than 3 within Options.ThrottleWindow).
var ErrResetThrottled = &Error{Code: "reset_throttled"}

// maxResetsPerWindow bounds reset mails per user per ThrottleWindow, so the
// form cannot be used to flood someone's inbox.
const maxResetsPerWindow = 3

const countRecentResets = `SELECT count(*) FROM password_reset_tokens WHERE user_id = $1 AND created_at > $2`

const insertResetToken = `
INSERT INTO password_reset_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`

// StartPasswordReset issues a one-time password-reset token for the user
// who signs in with login, valid for Options.ResetTokenTTL (30 minutes by
// default). Earlier tokens stay valid until one of them is used. The portal
// goes through internal/passwordreset instead, which issues the token with
// IssuePasswordResetTx in the transaction that enqueues the mail carrying it.
//
// Errors: ErrInvalidEmail, ErrInvalidPhone, ErrNotFound, ErrUserDisabled,
// ErrResetThrottled.
func (s *Service) StartPasswordReset(ctx context.Context, login string) (string, User, error) {
	u, err := s.UserByLogin(ctx, login)
	if err != nil {
		return "", User{}, err
	}
	var token string
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		token, err = s.IssuePasswordResetTx(ctx, tx, u)
		return err
	})
	if err != nil {
		return "", User{}, err
	}
	return token, u, nil
}

// IssuePasswordResetTx issues a one-time password-reset token for u inside
// tx, the caller's transaction, so that the token and the mail carrying it
// are committed together or not at all. It holds a per-user lock until tx
// ends, so concurrent requests cannot exceed the throttle.
//
// Errors: ErrUserDisabled, ErrResetThrottled.
func (s *Service) IssuePasswordResetTx(ctx context.Context, tx pgx.Tx, u User) (string, error) {
	if u.Disabled {
		return "", ErrUserDisabled
	}
	now := s.now()
	token, hash := newToken()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('auth.reset:' || $1::bigint::text, 0))`, u.ID); err != nil {
		return "", fmt.Errorf("auth: start password reset: %w", err)
	}
	var n int
	if err := tx.QueryRow(ctx, countRecentResets, u.ID, now.Add(-s.opt.ThrottleWindow)).Scan(&n); err != nil {
		return "", fmt.Errorf("auth: start password reset: %w", err)
	}
	if n >= maxResetsPerWindow {
		return "", ErrResetThrottled
	}
	if _, err := tx.Exec(ctx, insertResetToken, hash, u.ID, now, now.Add(s.opt.ResetTokenTTL)); err != nil {
		return "", fmt.Errorf("auth: start password reset: %w", err)
	}
	return token, nil
}

const lockResetToken = `
SELECT user_id FROM password_reset_tokens
WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
FOR UPDATE`

const useResetTokens = `UPDATE password_reset_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`

// clearLoginFailures records a successful attempt under each of the user's
// logins: proving ownership of the mailbox lifts the per-login slow-down
// (failures count only since the last success). The per-address limits stay.
const clearLoginFailures = `
INSERT INTO sign_in_attempts (login, user_id, succeeded, attempted_at)
SELECT l, $1, true, $2 FROM users, unnest(ARRAY[email, phone]) AS l
WHERE id = $1 AND l IS NOT NULL`

// ResetPassword sets a new password with a token from StartPasswordReset.
// The token works once; using it also voids the user's other outstanding
// tokens. A password the policy refuses leaves the token unused, so the user
// can try again. A successful reset lifts the per-login slow-down (not the
// per-address limits) and ends every session of the user: the returned
// user carries the new SessionEpoch, for the session the caller starts.
//
// Errors: ErrInvalidToken (unknown, expired or used), ErrWeakPassword
// (refined), ErrUserDisabled.
func (s *Service) ResetPassword(ctx context.Context, token, password string) (User, error) {
	var u User
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		u, err = s.ResetPasswordTx(ctx, tx, token, password)
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return User{}, err
		}
		return User{}, fmt.Errorf("auth: reset password: %w", err)
	}
	return u, nil
}

// ResetPasswordTx is ResetPassword inside tx, the caller's transaction (the
// back office audits a staff member's first password in it).
//
// Errors: as ResetPassword.
func (s *Service) ResetPasswordTx(ctx context.Context, tx pgx.Tx, token, password string) (User, error) {
	now := s.now()
	var userID int64
	err := tx.QueryRow(ctx, lockResetToken, hashToken(token), now).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrInvalidToken
	}
	if err != nil {
		return User{}, err
	}
	u, err := userByID(ctx, tx, userID)
	if err != nil {
		return User{}, err
	}
	if u.Disabled {
		return User{}, ErrUserDisabled
	}
	if u.SessionEpoch, err = s.setPassword(ctx, tx, u, password); err != nil {
		return User{}, err
	}
	if _, err := tx.Exec(ctx, useResetTokens, userID, now); err != nil {
		return User{}, err
	}
	if _, err = tx.Exec(ctx, clearLoginFailures, userID, now); err != nil {
		return User{}, err
	}
	u.HasPassword = true
	return u, nil
}

// PasswordTokenUser returns the user a valid (unused, unexpired) reset or
// set-password token belongs to, without using it, so a page can say whose
// password it sets.
//
// Errors: ErrInvalidToken.
func (s *Service) PasswordTokenUser(ctx context.Context, token string) (User, error) {
	var userID int64
	err := s.pool.QueryRow(ctx, `SELECT user_id FROM password_reset_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`,
		hashToken(token), s.now()).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrInvalidToken
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: password token: %w", err)
	}
	return s.UserByID(ctx, userID)
}

// DefaultPortalLinkTTL is the lifetime of a portal link created with ttl 0.
const DefaultPortalLinkTTL = 15 * time.Minute

const insertPortalLink = `
INSERT INTO portal_links (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`

// CreatePortalLink issues a one-time token that signs its bearer in to the
// portal as the customer of ledger account accountID, for
// POST /v1/accounts/{external_id}/portal-sessions. ttl 0 means
// DefaultPortalLinkTTL. The account's existence is the caller's to check.
//
// Errors: ErrInvalidTTL (negative or above Options.MaxPortalLinkTTL).
func (s *Service) CreatePortalLink(ctx context.Context, accountID int64, ttl time.Duration) (string, time.Time, error) {
	return s.CreatePortalLinkTx(ctx, s.pool, accountID, ttl)
}

// CreatePortalLinkTx is CreatePortalLink on q, the caller's transaction (or pool).
func (s *Service) CreatePortalLinkTx(ctx context.Context, q db.DBTX, accountID int64, ttl time.Duration) (string, time.Time, error) {
	if ttl == 0 {
		ttl = DefaultPortalLinkTTL
	}
	if ttl < 0 || ttl > s.opt.MaxPortalLinkTTL {
		return "", time.Time{}, ErrInvalidTTL
	}
	now := s.now()
	expires := now.Add(ttl)
	token, hash := newToken()
	if _, err := q.Exec(ctx, insertPortalLink, hash, accountID, now, expires); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: create portal link: %w", err)
	}
	return token, expires, nil
}

const usePortalLink = `
UPDATE portal_links SET used_at = $2
WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
RETURNING account_id`

const insertAccountUser = `
INSERT INTO users (kind, account_id, locale, created_at) VALUES ('customer', $1, $2, $3)
ON CONFLICT (account_id) DO NOTHING`

const notePortalLinkUser = `UPDATE portal_links SET user_id = $2 WHERE token_hash = $1`

// ConsumePortalLink uses a portal link once and returns the customer user of
// its ledger account, creating one (no email, phone or password yet; they
// may then SetPassword, SetEmail, SetPhone) the first time. The user's last
// sign-in is set to now.
//
// Errors: ErrInvalidToken (unknown, expired or used), ErrUserDisabled.
func (s *Service) ConsumePortalLink(ctx context.Context, token string) (User, error) {
	now := s.now()
	hash := hashToken(token)
	var u User
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var accountID int64
		err := tx.QueryRow(ctx, usePortalLink, hash, now).Scan(&accountID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvalidToken
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, insertAccountUser, accountID, s.opt.DefaultLocale, now); err != nil {
			return err
		}
		if u, err = scanUser(tx.QueryRow(ctx, selectUserByAccountID, accountID)); err != nil {
			return err
		}
		if u.Disabled {
			return ErrUserDisabled
		}
		if _, err := tx.Exec(ctx, notePortalLinkUser, hash, u.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, markSignedIn, u.ID, now)
		u.LastSignInAt = now
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return User{}, err
		}
		return User{}, fmt.Errorf("auth: consume portal link: %w", err)
	}
	return u, nil
}
