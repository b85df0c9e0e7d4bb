package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

// RegisterRequest is the sign-up form of a customer.
type RegisterRequest struct {
	Login    string // email or mainland China mobile number, any accepted spelling
	Password string
	Name     string // display name, optional, at most 100 characters
	Locale   string // e.g. "zh-CN" or "en"; Options.DefaultLocale when empty
	// AccountID links the user to a ledger account created earlier in the
	// same transaction (RegisterTx); 0 for none (link it later with
	// LinkAccountTx).
	AccountID int64
	// TermsVersion is the version of the terms and privacy policy the
	// person agreed to at sign-up, recorded with IP in user_consents in the
	// same transaction; empty records nothing (staff-made customers).
	TermsVersion, IP string
}

// newCustomer is a validated RegisterRequest, hashed and ready to insert.
type newCustomer struct {
	email, phone *string
	hash         string
	name, locale string
	accountID    *int64
	terms, ip    string
}

// CheckRegistration checks the login, password and name of req as Register
// does, without writing anything, so a form can show them with its own
// failures. It returns nil or a *fielderr.Errors with every failed field
// ("login", "password", "name").
func CheckRegistration(req RegisterRequest) error {
	errs := fielderr.New("auth")
	login, _, err := NormalizeLogin(req.Login)
	if err != nil {
		errs.Merge(err)
		login = req.Login
	}
	errs.Merge(CheckPassword(req.Password, login))
	_, err = checkName(req.Name)
	errs.Merge(err)
	return errs.Err()
}

func (s *Service) prepareCustomer(req RegisterRequest) (newCustomer, error) {
	// Every failed field at once: login, password and name.
	if err := CheckRegistration(req); err != nil {
		return newCustomer{}, err
	}
	login, kind, err := NormalizeLogin(req.Login)
	if err != nil {
		return newCustomer{}, err
	}
	name, err := checkName(req.Name)
	if err != nil {
		return newCustomer{}, err
	}
	hash, err := hashPassword(req.Password, s.opt.Argon2)
	if err != nil {
		return newCustomer{}, err
	}
	c := newCustomer{hash: hash, name: name, locale: s.locale(req.Locale), terms: req.TermsVersion, ip: req.IP}
	if kind == LoginEmail {
		c.email = &login
	} else {
		c.phone = &login
	}
	if req.AccountID != 0 {
		c.accountID = &req.AccountID
	}
	return c, nil
}

// ErrInvalidName: a display name longer than 100 characters or with control characters.
var ErrInvalidName = field("name", "invalid_name")

// ErrAccountHasUser: the ledger account is already linked to another user.
var ErrAccountHasUser = &Error{Code: "account_has_user"}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) {
		return "", ErrInvalidName
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", ErrInvalidName
		}
	}
	return name, nil
}

func (s *Service) locale(l string) string {
	l = strings.TrimSpace(l)
	if l == "" || len(l) > 35 {
		return s.opt.DefaultLocale
	}
	return l
}

// Register creates a customer user who signs in with req.Login and
// req.Password, in its own transaction.
//
// Errors: ErrInvalidEmail, ErrInvalidPhone, ErrWeakPassword (refined: see its
// doc), ErrInvalidName, ErrLoginTaken, ErrAccountHasUser.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (User, error) {
	c, err := s.prepareCustomer(req)
	if err != nil {
		return User{}, err
	}
	var u User
	err = db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		u, err = s.insertCustomer(ctx, tx, c)
		return err
	})
	return u, err
}

// RegisterTx is Register inside the caller's transaction, so the portal can
// create the ledger account, link it (req.AccountID) and grant the sign-up
// credit atomically. A taken login does not abort tx (the insert uses ON
// CONFLICT DO NOTHING), but the caller should roll back on any error.
// Hashing the password (tens of milliseconds) happens before any statement.
//
// Errors: as Register.
func (s *Service) RegisterTx(ctx context.Context, tx pgx.Tx, req RegisterRequest) (User, error) {
	c, err := s.prepareCustomer(req)
	if err != nil {
		return User{}, err
	}
	return s.insertCustomer(ctx, tx, c)
}

const insertCustomer = `
INSERT INTO users (email, phone, password_hash, display_name, kind, account_id, locale, created_at)
VALUES ($1, $2, $3, $4, 'customer', $5, $6, $7)
ON CONFLICT DO NOTHING
RETURNING ` + userColumns

const accountHasUser = `SELECT EXISTS (SELECT 1 FROM users WHERE account_id = $1)`

func (s *Service) insertCustomer(ctx context.Context, q db.DBTX, c newCustomer) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, insertCustomer, c.email, c.phone, c.hash, c.name, c.accountID, c.locale, s.now()))
	if errors.Is(err, ErrNotFound) { // a unique constraint said no
		if c.accountID != nil {
			var taken bool
			if err := q.QueryRow(ctx, accountHasUser, *c.accountID).Scan(&taken); err != nil {
				return User{}, fmt.Errorf("auth: register: %w", err)
			}
			if taken {
				return User{}, ErrAccountHasUser
			}
		}
		return User{}, ErrLoginTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: register: %w", err)
	}
	if c.terms != "" {
		if _, err := q.Exec(ctx, insertConsent, u.ID, ConsentTerms, c.terms, c.ip, s.now()); err != nil {
			return User{}, fmt.Errorf("auth: register: consent: %w", err)
		}
	}
	return u, nil
}

// Consent documents (user_consents.document).
const (
	ConsentTerms       = "terms_privacy" // the terms and privacy policy, at sign-up
	ConsentSensitivePI = "sensitive_pi"  // collecting an ID number or licence (PIPL art. 29)
)

const insertConsent = `INSERT INTO user_consents (user_id, document, version, ip, at) VALUES ($1, $2, $3, $4, $5)`

// RecordConsent records that the user agreed to version of document (one
// of the Consent… documents) from address ip. Consents are append-only: a
// second agreement is a second row.
func (s *Service) RecordConsent(ctx context.Context, userID int64, document, version, ip string) error {
	if document != ConsentTerms && document != ConsentSensitivePI || version == "" {
		return fmt.Errorf("auth: record consent: unknown document %q or empty version", document)
	}
	if _, err := s.pool.Exec(ctx, insertConsent, userID, document, version, ip, s.now()); err != nil {
		return fmt.Errorf("auth: record consent: %w", err)
	}
	return nil
}

// Consent is one agreement a user gave.
type Consent struct {
	Document string    `db:"document"`
	Version  string    `db:"version"`
	At       time.Time `db:"at"`
}

// Consents lists what the user agreed to, oldest first.
func (s *Service) Consents(ctx context.Context, userID int64) ([]Consent, error) {
	rows, _ := s.pool.Query(ctx, `SELECT document, version, at FROM user_consents WHERE user_id = $1 ORDER BY id`, userID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Consent])
	if err != nil {
		return nil, fmt.Errorf("auth: consents: %w", err)
	}
	return out, nil
}

const linkAccount = `UPDATE users SET account_id = $2 WHERE id = $1 AND kind = 'customer'`

// LinkAccountTx links a customer user to its ledger account inside the
// caller's transaction.
//
// Errors: ErrNotFound (no such customer), ErrAccountHasUser.
func (s *Service) LinkAccountTx(ctx context.Context, tx pgx.Tx, userID, accountID int64) error {
	// A savepoint keeps the caller's transaction usable after a conflict.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("auth: link account: %w", err)
	}
	defer sp.Rollback(ctx) //nolint:errcheck
	tag, err := sp.Exec(ctx, linkAccount, userID, accountID)
	if db.IsUniqueViolation(err, "users_account_id_key") {
		return ErrAccountHasUser
	}
	if err != nil {
		return fmt.Errorf("auth: link account: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return sp.Commit(ctx)
}

// setPasswordHash replaces the password and moves the session epoch on:
// every session signed in before is over.
const setPasswordHash = `UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1
WHERE id = $1 RETURNING session_epoch`

// SetPassword replaces a user's password without asking for the old one: for
// a portal-link user choosing a first password, or after another proof of
// identity. Use ChangePassword when the user has a password. Every session
// of the user ends (the epoch moves on; see User.SessionEpoch).
//
// Errors: ErrWeakPassword (refined), ErrNotFound.
func (s *Service) SetPassword(ctx context.Context, userID int64, password string) error {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	_, err = s.setPassword(ctx, s.pool, u, password)
	return err
}

// setPassword stores the new password and returns the user's new session epoch.
func (s *Service) setPassword(ctx context.Context, q db.DBTX, u User, password string) (int64, error) {
	if err := CheckPassword(password, u.Email); err != nil {
		return 0, err
	}
	if err := CheckPassword(password, u.Phone); err != nil {
		return 0, err
	}
	hash, err := hashPassword(password, s.opt.Argon2)
	if err != nil {
		return 0, err
	}
	var epoch int64
	err = q.QueryRow(ctx, setPasswordHash, u.ID, hash).Scan(&epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("auth: set password: %w", err)
	}
	return epoch, nil
}

const selectPasswordHash = `SELECT password_hash FROM users WHERE id = $1`

// ChangePassword replaces the password of a signed-in user after checking
// the current one (a user without a password may pass any current value),
// and returns the user with the new password's SessionEpoch: every session
// signed in before is over, and the caller moves the one that asked to the
// new epoch.
//
// Errors: ErrBadCredentials (current password wrong), ErrWeakPassword
// (refined), ErrNotFound.
func (s *Service) ChangePassword(ctx context.Context, userID int64, current, password string) (User, error) {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return User{}, err
	}
	if u.HasPassword {
		var hash string
		if err := s.pool.QueryRow(ctx, selectPasswordHash, userID).Scan(&hash); err != nil {
			return User{}, fmt.Errorf("auth: change password: %w", err)
		}
		ok, _, err := verifyPassword(current, hash, s.opt.Argon2)
		if err != nil {
			return User{}, fmt.Errorf("auth: change password: %w", err)
		}
		if !ok {
			return User{}, fmt.Errorf("%w: %w", ErrBadCredentials, fielderr.One("auth", "current", CodeCurrentPasswordWrong))
		}
	}
	if u.SessionEpoch, err = s.setPassword(ctx, s.pool, u, password); err != nil {
		return User{}, err
	}
	u.HasPassword = true
	return u, nil
}

const setEmail = `UPDATE users SET email = $2 WHERE id = $1`

// SetEmail gives a user an email address to sign in with (replacing any
// previous one).
//
// Errors: ErrInvalidEmail and ErrLoginTaken (both on field "email"), ErrNotFound.
func (s *Service) SetEmail(ctx context.Context, userID int64, email string) (User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return User{}, onField(ErrInvalidEmail, "email")
	}
	return s.setContact(ctx, setEmail, userID, e, "email")
}

const setPhone = `UPDATE users SET phone = $2 WHERE id = $1`

// SetPhone gives a user a mobile number to sign in with (replacing any
// previous one).
//
// Errors: ErrInvalidPhone and ErrLoginTaken (both on field "phone"), ErrNotFound.
func (s *Service) SetPhone(ctx context.Context, userID int64, phone string) (User, error) {
	p, err := NormalizePhone(phone)
	if err != nil {
		return User{}, onField(ErrInvalidPhone, "phone")
	}
	return s.setContact(ctx, setPhone, userID, p, "phone")
}

func (s *Service) setContact(ctx context.Context, query string, userID int64, value, field string) (User, error) {
	tag, err := s.pool.Exec(ctx, query, userID, value)
	if db.IsUniqueViolation(err, "") {
		return User{}, onField(ErrLoginTaken, field)
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: set %s: %w", field, err)
	}
	if tag.RowsAffected() == 0 {
		return User{}, ErrNotFound
	}
	return s.UserByID(ctx, userID)
}

const setProfile = `UPDATE users SET display_name = $2, locale = $3 WHERE id = $1`

// SetProfile updates a user's display name and locale.
//
// Errors: ErrInvalidName, ErrNotFound.
func (s *Service) SetProfile(ctx context.Context, userID int64, name, locale string) (User, error) {
	name, err := checkName(name)
	if err != nil {
		return User{}, err
	}
	tag, err := s.pool.Exec(ctx, setProfile, userID, name, s.locale(locale))
	if err != nil {
		return User{}, fmt.Errorf("auth: set profile: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return User{}, ErrNotFound
	}
	return s.UserByID(ctx, userID)
}

// setDisabled moves the session epoch on when it disables the user.
const setDisabled = `UPDATE users SET disabled = $2,
    session_epoch = session_epoch + CASE WHEN $2 AND NOT disabled THEN 1 ELSE 0 END
WHERE id = $1`

// SetDisabled disables (or re-enables) a user: a disabled user cannot sign
// in, reset a password or use a portal link, and disabling ends every
// session of the user (see User.SessionEpoch).
//
// Errors: ErrNotFound.
func (s *Service) SetDisabled(ctx context.Context, userID int64, disabled bool) error {
	tag, err := s.pool.Exec(ctx, setDisabled, userID, disabled)
	if err != nil {
		return fmt.Errorf("auth: set disabled: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
