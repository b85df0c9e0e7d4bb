package auth

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// TOTP two-factor sign-in (RFC 6238: 30-second steps, 6 digits, SHA-1, the
// defaults every authenticator app reads). Staff holding admin or finance
// must enrol; anyone enrolled is asked for a code after the password. The
// secret is sealed with Options.Sealer; the step of the last accepted code
// is stored so a code works once; wrong codes are throttled per user.

// totpPeriod is the length of one TOTP step in seconds.
const totpPeriod = 30

// TwoFactorRequired reports whether u must sign in with a TOTP code: staff
// holding admin or finance (unless Options.SkipTwoFactor).
func (s *Service) TwoFactorRequired(u User) bool {
	return !s.opt.SkipTwoFactor && HasAnyRole(u, RoleAdmin, RoleFinance)
}

// TOTPEnrolment is what an authenticator app needs: the secret in base32
// (to type in) and the otpauth:// URL (to scan as a QR code).
type TOTPEnrolment struct {
	Secret string
	URL    string
}

func totpAAD(userID int64) []byte { return []byte("auth.totp:" + strconv.FormatInt(userID, 10)) }

const selectTOTP = `SELECT kind, coalesce(email, ''), totp_secret, totp_confirmed_at IS NOT NULL, totp_last_step
FROM users WHERE id = $1`

const selectTOTPForUpdate = selectTOTP + ` FOR UPDATE`

type totpState struct {
	kind      Kind
	email     string
	sealed    []byte
	confirmed bool
	lastStep  int64
}

func lockTOTP(ctx context.Context, tx pgx.Tx, userID int64) (totpState, error) {
	var st totpState
	err := tx.QueryRow(ctx, selectTOTPForUpdate, userID).Scan(&st.kind, &st.email, &st.sealed, &st.confirmed, &st.lastStep)
	if errors.Is(err, pgx.ErrNoRows) {
		return totpState{}, ErrNotFound
	}
	if err != nil {
		return totpState{}, err
	}
	if st.kind != KindStaff {
		return totpState{}, ErrNotStaff
	}
	return st, nil
}

const setPendingTOTP = `UPDATE users SET totp_secret = $2, totp_confirmed_at = NULL, totp_last_step = 0 WHERE id = $1`

// TOTPEnrolment returns the staff user's pending (not yet confirmed)
// authenticator secret, creating and storing one (sealed) the first time,
// so the enrolment page and its QR image show the same secret until a code
// confirms it.
//
// Errors: ErrNotFound, ErrNotStaff, ErrTOTPEnrolled.
func (s *Service) TOTPEnrolment(ctx context.Context, userID int64) (TOTPEnrolment, error) {
	var out TOTPEnrolment
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		st, err := lockTOTP(ctx, tx, userID)
		if err != nil {
			return err
		}
		if st.confirmed {
			return ErrTOTPEnrolled
		}
		var raw []byte
		if st.sealed != nil {
			if raw, err = s.opt.Sealer.Open(st.sealed, totpAAD(userID)); err != nil {
				return err
			}
		} else {
			key, err := totp.Generate(totp.GenerateOpts{Issuer: s.opt.TOTPIssuer, AccountName: st.email})
			if err != nil {
				return err
			}
			if raw, err = decodeSecret(key.Secret()); err != nil {
				return err
			}
			sealed, err := s.opt.Sealer.Seal(raw, totpAAD(userID))
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, setPendingTOTP, userID, sealed); err != nil {
				return err
			}
		}
		key, err := totp.Generate(totp.GenerateOpts{Issuer: s.opt.TOTPIssuer, AccountName: st.email, Secret: raw})
		if err != nil {
			return err
		}
		out = TOTPEnrolment{Secret: key.Secret(), URL: key.URL()}
		return nil
	})
	if err != nil && db.NoPrimary(err) {
		// No primary (a failover): a pending secret already stored is
		// shown as it stands; a new one cannot be stored, so the page
		// says to try again.
		if pending, ok := s.pendingTOTP(ctx, userID); ok {
			return pending, nil
		}
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return TOTPEnrolment{}, err
		}
		return TOTPEnrolment{}, fmt.Errorf("auth: totp enrolment: %w", err)
	}
	return out, nil
}

// pendingTOTP reads, without a lock, the staff user's pending secret, if
// one is stored and not confirmed.
func (s *Service) pendingTOTP(ctx context.Context, userID int64) (TOTPEnrolment, bool) {
	var st totpState
	err := s.pool.QueryRow(ctx, selectTOTP, userID).Scan(&st.kind, &st.email, &st.sealed, &st.confirmed, &st.lastStep)
	if err != nil || st.kind != KindStaff || st.confirmed || st.sealed == nil {
		return TOTPEnrolment{}, false
	}
	raw, err := s.opt.Sealer.Open(st.sealed, totpAAD(userID))
	if err != nil {
		return TOTPEnrolment{}, false
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.opt.TOTPIssuer, AccountName: st.email, Secret: raw})
	if err != nil {
		return TOTPEnrolment{}, false
	}
	return TOTPEnrolment{Secret: key.Secret(), URL: key.URL()}, true
}

func decodeSecret(b32 string) ([]byte, error) {
	return otpBase32.DecodeString(strings.ToUpper(b32))
}

const confirmTOTP = `UPDATE users SET totp_confirmed_at = $2, totp_last_step = $3 WHERE id = $1`

// ConfirmTOTPTx completes the enrolment of the user's pending authenticator
// with its current code, inside tx (the back office audits it there). The
// code is spent: it cannot then sign in within its window.
//
// Errors: ErrNotFound, ErrNotStaff, ErrTOTPEnrolled, ErrTOTPNotEnrolled
// (no pending secret), ErrInvalidTOTP.
func (s *Service) ConfirmTOTPTx(ctx context.Context, tx pgx.Tx, userID int64, code string) (User, error) {
	st, err := lockTOTP(ctx, tx, userID)
	if err != nil {
		return User{}, err
	}
	if st.confirmed {
		return User{}, ErrTOTPEnrolled
	}
	if st.sealed == nil {
		return User{}, ErrTOTPNotEnrolled
	}
	raw, err := s.opt.Sealer.Open(st.sealed, totpAAD(userID))
	if err != nil {
		return User{}, fmt.Errorf("auth: confirm totp: %w", err)
	}
	step, ok := s.matchStep(raw, code, 0)
	if !ok {
		return User{}, ErrInvalidTOTP
	}
	if _, err := tx.Exec(ctx, confirmTOTP, userID, s.now(), step); err != nil {
		return User{}, fmt.Errorf("auth: confirm totp: %w", err)
	}
	return userByID(ctx, tx, userID)
}

// totpLogin is the sign_in_attempts login under which a user's TOTP codes
// are counted (they also count against their address's limit).
func totpLogin(userID int64) string { return "totp:" + strconv.FormatInt(userID, 10) }

const countTOTPFailures = `
SELECT count(*) FROM sign_in_attempts
WHERE login = $1 AND NOT succeeded AND attempted_at > $2
  AND id > coalesce((SELECT max(id) FROM sign_in_attempts WHERE login = $1 AND succeeded), 0)`

const recordTOTPAttempt = `
INSERT INTO sign_in_attempts (login, ip, ip_block, user_id, succeeded, attempted_at)
VALUES ($1, $2, $3, $4, $5, $6)`

const spendTOTPStep = `UPDATE users SET totp_last_step = $2 WHERE id = $1`

// VerifyTOTP checks the second step of a sign-in: code must be the user's
// authenticator code for now (one step of clock drift either way) and newer
// than the last code accepted, so a code never works twice. Codes are
// checked one at a time per user (the user's row is locked), so the limit
// holds exactly under concurrency: MaxTOTPFailures wrong codes within
// ThrottleWindow, since the last accepted one, refuse every further code
// without checking it. Attempts are recorded in sign_in_attempts, so they
// also count against ip's per-address limit for passwords.
//
// Errors: ErrInvalidTOTP, ErrSignInThrottled, ErrTOTPNotEnrolled,
// ErrNotStaff, ErrNotFound, ErrUserDisabled.
func (s *Service) VerifyTOTP(ctx context.Context, userID int64, code, ip string) (User, error) {
	addr, block := ipBlock(ip)
	now := s.now()
	var (
		u       User
		outcome error
	)
	err := db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		outcome = nil
		st, err := lockTOTP(ctx, tx, userID)
		if err != nil {
			return err
		}
		if !st.confirmed {
			return ErrTOTPNotEnrolled
		}
		var fails int
		if err := tx.QueryRow(ctx, countTOTPFailures, totpLogin(userID), now.Add(-s.opt.ThrottleWindow)).Scan(&fails); err != nil {
			return err
		}
		if fails >= s.opt.MaxTOTPFailures {
			outcome = ErrSignInThrottled
			return nil
		}
		if u, err = userByID(ctx, tx, userID); err != nil {
			return err
		}
		if u.Disabled {
			return ErrUserDisabled
		}
		raw, err := s.opt.Sealer.Open(st.sealed, totpAAD(userID))
		if err != nil {
			return err
		}
		step, ok := s.matchStep(raw, code, st.lastStep)
		if _, err := tx.Exec(ctx, recordTOTPAttempt, totpLogin(userID), nullAddr(addr), block, userID, ok, now); err != nil {
			return err
		}
		if !ok {
			outcome = ErrInvalidTOTP
			return nil
		}
		_, err = tx.Exec(ctx, spendTOTPStep, userID, step)
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return User{}, err
		}
		return User{}, fmt.Errorf("auth: verify totp: %w", err)
	}
	if outcome != nil {
		return User{}, outcome
	}
	return u, nil
}

const resetTOTP = `UPDATE users SET totp_secret = NULL, totp_confirmed_at = NULL, totp_last_step = 0,
    session_epoch = session_epoch + 1
WHERE id = $1`

// ResetTOTPTx removes the staff user's authenticator inside tx (the back
// office audits it there), for a user who lost their phone: their sessions
// end, and their next sign-in leads to a new enrolment.
//
// Errors: ErrNotFound, ErrNotStaff.
func (s *Service) ResetTOTPTx(ctx context.Context, tx pgx.Tx, userID int64) (User, error) {
	if _, err := lockTOTP(ctx, tx, userID); err != nil {
		return User{}, err
	}
	if _, err := tx.Exec(ctx, resetTOTP, userID); err != nil {
		return User{}, fmt.Errorf("auth: reset totp: %w", err)
	}
	return userByID(ctx, tx, userID)
}

// matchStep returns the step whose code equals code, among the current
// step and one either side, newer than lastStep; ok is false when none does.
func (s *Service) matchStep(secret []byte, code string, lastStep int64) (step int64, ok bool) {
	code = strings.Join(strings.Fields(foldWidth(code)), "")
	if len(code) != 6 {
		return 0, false
	}
	b32 := otpBase32.EncodeToString(secret)
	now := s.now().Unix() / totpPeriod
	for st := now - 1; st <= now+1; st++ {
		if st <= lastStep {
			continue
		}
		want, err := hotp.GenerateCodeCustom(b32, uint64(st), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return st, true
		}
	}
	return 0, false
}

// otpBase32 is the secret's encoding in otpauth:// URLs (no padding).
var otpBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)
