// Package auth owns the identity of users: customers who sign in to the
// portal by email or mainland China mobile number, and staff with roles for
// the back office. It stores argon2id password hashes, throttles sign-in
// attempts across server instances, and issues one-time tokens for password
// resets and for portal links created through the gateway API.
//
// It sends no mail and renders nothing: tokens are returned to the caller
// (internal/passwordreset mails reset links; the gateway API hands out portal
// links), and errors carry codes (see Error) that the web layer turns into
// messages.
package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// Options configure a Service; zero fields take the documented defaults.
type Options struct {
	// Now returns the current time; tests inject a clock. Default time.Now.
	Now func() time.Time
	// Reader, when set, lets UserByID in a page request be answered by the
	// standby while no primary answers (db.Reader.Latest).
	Reader *db.Reader
	// Argon2 are the cost parameters of new hashes. Default DefaultArgon2Params.
	Argon2 Argon2Params
	// MaxFailuresPerLoginIP failed sign-ins for one login from one address
	// (an IPv4 address or an IPv6 /64) within ThrottleWindow, since that
	// login's last success from there, refuse further attempts for that
	// login from that address. Default 5.
	MaxFailuresPerLoginIP int
	// MaxFailuresPerIP failed sign-ins from one address (IPv4, or IPv6 /64)
	// within ThrottleWindow refuse every further attempt from it. Default 20.
	// Mobile carriers in China put many users behind one address, so keep it
	// well above MaxFailuresPerLoginIP.
	MaxFailuresPerIP int
	// ThrottleWindow is how far back failures count. Default 15 minutes.
	ThrottleWindow time.Duration
	// SlowLoginAfter failures for one login from any addresses within
	// ThrottleWindow, since its last success, slow down every further
	// attempt for it (never refuse it: that would let anyone lock anyone
	// out): the attempt first waits SlowLoginDelay, doubled for each failure
	// beyond SlowLoginAfter, at most MaxSlowLoginDelay. Defaults 5, 250 ms, 4 s.
	SlowLoginAfter    int
	SlowLoginDelay    time.Duration
	MaxSlowLoginDelay time.Duration
	// Sleep waits d or until ctx ends (then returns its error); tests
	// record instead of waiting. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// ResetTokenTTL is how long a password-reset token works. Default 30 minutes.
	ResetTokenTTL time.Duration
	// MaxPortalLinkTTL bounds the lifetime of a portal link. Default 24 hours.
	MaxPortalLinkTTL time.Duration
	// DefaultLocale is given to users registered without one and to users
	// created from portal links. Default "zh-CN".
	DefaultLocale string
	// StaffInviteTTL is how long the set-password link of a new staff user
	// works. Default 72 hours.
	StaffInviteTTL time.Duration
	// Sealer encrypts TOTP secrets at rest (the user id is the associated
	// data). Default piicrypto.Dev(), which production refuses upstream.
	Sealer *piicrypto.Sealer
	// TOTPIssuer names the service in authenticator apps. Default "credits".
	TOTPIssuer string
	// MaxTOTPFailures wrong codes for one user within ThrottleWindow, since
	// the user's last accepted code, refuse further codes. Default 5.
	MaxTOTPFailures int
	// SkipTwoFactor turns the TOTP requirement of admin and finance staff
	// off. Only tests of other areas set it; production never does.
	SkipTwoFactor bool
}

// Service is the identity domain: registration, sign-in, tokens, staff.
type Service struct {
	pool      db.Querier
	opt       Options
	dummyHash string // verified against for unknown logins, to even out timing
}

// New returns a Service on pool with opts' defaults filled in.
func New(pool db.Querier, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Argon2 == (Argon2Params{}) {
		opts.Argon2 = DefaultArgon2Params
	}
	if opts.MaxFailuresPerLoginIP <= 0 {
		opts.MaxFailuresPerLoginIP = 5
	}
	if opts.MaxFailuresPerIP <= 0 {
		opts.MaxFailuresPerIP = 20
	}
	if opts.ThrottleWindow <= 0 {
		opts.ThrottleWindow = 15 * time.Minute
	}
	if opts.SlowLoginAfter <= 0 {
		opts.SlowLoginAfter = 5
	}
	if opts.SlowLoginDelay <= 0 {
		opts.SlowLoginDelay = 250 * time.Millisecond
	}
	if opts.MaxSlowLoginDelay <= 0 {
		opts.MaxSlowLoginDelay = 4 * time.Second
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.ResetTokenTTL <= 0 {
		opts.ResetTokenTTL = 30 * time.Minute
	}
	if opts.MaxPortalLinkTTL <= 0 {
		opts.MaxPortalLinkTTL = 24 * time.Hour
	}
	if opts.DefaultLocale == "" {
		opts.DefaultLocale = "zh-CN"
	}
	if opts.StaffInviteTTL <= 0 {
		opts.StaffInviteTTL = 72 * time.Hour
	}
	if opts.Sealer == nil {
		opts.Sealer = piicrypto.Dev()
	}
	if opts.TOTPIssuer == "" {
		opts.TOTPIssuer = "credits"
	}
	if opts.MaxTOTPFailures <= 0 {
		opts.MaxTOTPFailures = 5
	}
	dummy, err := hashPassword("not a password: evens out sign-in timing", opts.Argon2)
	if err != nil {
		panic(err) // only crypto/rand can fail here, and it does not
	}
	return &Service{pool: pool, opt: opts, dummyHash: dummy}
}

func (s *Service) now() time.Time { return s.opt.Now().UTC() }

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kind separates customers (portal) from staff (back office).
type Kind string

// User kinds.
const (
	KindCustomer Kind = "customer"
	KindStaff    Kind = "staff"
)

// User is a person who can sign in. Empty strings and zero values mean
// "none": a user has an Email, a Phone, or both (a user created from a portal
// link may have neither until they add one).
type User struct {
	ID           int64
	Email        string // lower-cased
	Phone        string // E.164, +8613800138000
	Name         string
	Kind         Kind
	Roles        []Role // staff only
	AccountID    int64  // customer's ledger account id; 0 when none yet
	Locale       string
	CreatedAt    time.Time
	LastSignInAt time.Time // zero when never signed in
	Disabled     bool
	HasPassword  bool // false for a portal-link user who has not set one
	// SessionEpoch is the generation of the user's sessions: a session
	// remembers the epoch it was signed in at and is over once this moves
	// on, which a password change or reset, disabling the user and removing
	// a staff role do.
	SessionEpoch int64
	// TOTPEnrolled: the staff user confirmed a TOTP authenticator, so every
	// sign-in asks for its code after the password (see totp.go).
	TOTPEnrolled bool
}

// Login returns what the user signs in with, email first.
func (u User) Login() string {
	if u.Email != "" {
		return u.Email
	}
	return u.Phone
}

// IsStaff reports whether u may be considered for /admin at all.
func (u User) IsStaff() bool { return u.Kind == KindStaff && !u.Disabled }

// userColumns is the select list scanned by scanUser, in order.
const userColumns = `id, coalesce(email, ''), coalesce(phone, ''), display_name, kind, roles,
	coalesce(account_id, 0), locale, created_at, last_sign_in_at,
	disabled, password_hash IS NOT NULL, session_epoch, totp_confirmed_at IS NOT NULL`

func scanUser(row pgx.Row) (User, error) {
	var u User
	var roles []string
	var last *time.Time
	err := row.Scan(&u.ID, &u.Email, &u.Phone, &u.Name, &u.Kind, &roles, &u.AccountID,
		&u.Locale, &u.CreatedAt, &last, &u.Disabled, &u.HasPassword, &u.SessionEpoch, &u.TOTPEnrolled)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	if last != nil {
		u.LastSignInAt = last.UTC()
	}
	for _, r := range roles {
		u.Roles = append(u.Roles, Role(r))
	}
	return u, nil
}

func scanUsers(rows pgx.Rows) ([]User, error) {
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

const selectUserByID = `SELECT ` + userColumns + ` FROM users WHERE id = $1`

// UserByID returns the user with that id, or ErrNotFound.
func (s *Service) UserByID(ctx context.Context, id int64) (User, error) {
	return userByID(ctx, s.opt.Reader.Latest(ctx, s.pool), id)
}

func userByID(ctx context.Context, q db.DBTX, id int64) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, selectUserByID, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("auth: user by id: %w", err)
	}
	return u, err
}

const selectUserByAccountID = `SELECT ` + userColumns + ` FROM users WHERE account_id = $1`

// UserByAccountID returns the customer user of a ledger account, or ErrNotFound.
func (s *Service) UserByAccountID(ctx context.Context, accountID int64) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, selectUserByAccountID, accountID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("auth: user by account: %w", err)
	}
	return u, err
}

const selectUserByLogin = `SELECT ` + userColumns + ` FROM users WHERE email = $1 OR phone = $1`

// UserByLogin returns the user who signs in with login (an email or a mobile
// number in any accepted spelling), ErrNotFound, or the login's validation error.
func (s *Service) UserByLogin(ctx context.Context, login string) (User, error) {
	norm, _, err := NormalizeLogin(login)
	if err != nil {
		return User{}, err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, selectUserByLogin, norm))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("auth: user by login: %w", err)
	}
	return u, err
}
