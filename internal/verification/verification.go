// Package verification runs real-name verification (实名认证) of accounts:
// individuals by legal name and resident identity number, enterprises by
// company name, unified social credit code, legal representative and business
// licence. Numbers are validated locally (package identity), then confirmed by
// a verification Provider; what the provider cannot decide waits in a manual
// review queue.
//
// States: an account without a submission is unverified; a submission is
// pending, verified or rejected (with a reason; the customer may submit
// again). A verified account receives the verification bonus once, as a promo
// lot credited in the same transaction. One ID number or credit code verifies
// at most one account (a unique blind index among verified rows).
//
// Personal data is sealed at rest with piicrypto (the additional data binds
// each value to its row and account); everything this package returns carries
// masked values only, except RevealNumber and Licence, which only the roles in
// Options.RevealRoles may call and which write every attempt to
// pii_access_log.
package verification

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// State is where an account stands in verification.
type State string

// States.
const (
	StateUnverified State = "unverified" // nothing submitted (no row)
	StatePending    State = "pending"    // waiting for manual review
	StateVerified   State = "verified"
	StateRejected   State = "rejected" // see Status.Reason; the customer may submit again
)

// Subject is what is verified: a person or a company.
type Subject string

// Subjects.
const (
	SubjectIndividual Subject = "individual"
	SubjectEnterprise Subject = "enterprise"
)

// Source says who vouched for a verification.
type Source string

// Sources.
const (
	// SourceSelf: the customer submitted their identity here.
	SourceSelf Source = "self"
	// SourceExternal: a gateway API client declared the account verified
	// (MarkVerifiedExternally); no identity data is held.
	SourceExternal Source = "external"
)

// Reasons this package sets besides the provider's identity.Reason* codes.
// They map to i18n keys `error.verification.<reason>`.
const (
	// ReasonProviderUnavailable: the provider gave no answer; a person reviews it.
	ReasonProviderUnavailable = "provider_unavailable"
	// ReasonSuperseded: a pending submission was closed because a gateway
	// client declared the account verified.
	ReasonSuperseded = "superseded"
	// ReasonIdentityInUse: approval refused because the number verified another account meanwhile.
	ReasonIdentityInUse = "identity_in_use"
)

// ActorProvider is the decided_by of a decision made by the provider.
const ActorProvider = "provider"

// Bonus is the verification bonus: Amount credits as a promo lot, expiring
// ExpiryDays after the grant (0: never). A zero Amount grants nothing.
type Bonus struct {
	Amount     decimal.Decimal
	ExpiryDays int
}

// Default settings.
const (
	DefaultMaxLicenceBytes = 5 << 20
)

// DefaultAllowedTypes are the licence file types accepted when
// Options.AllowedTypes is empty, as sniffed by http.DetectContentType.
var DefaultAllowedTypes = []string{"image/jpeg", "image/png", "application/pdf"}

// DefaultRevealRoles are the staff roles allowed to see full numbers and
// licence files when Options.RevealRoles is empty: admin only. Finance does
// not need the full number to issue invoices (the credit code printed on an
// invoice comes from the buyer's title profile, not from here).
var DefaultRevealRoles = []string{"admin"}

// DefaultLicenceRoles may see a business licence when Options.LicenceRoles
// is empty: the roles that decide company verifications in manual review
// (support and admin), since the licence is what they decide on. Each view
// is in pii_access_log like a revealed number.
var DefaultLicenceRoles = []string{"support", "admin"}

// Options configures a Service. The zero value is usable (no bonus).
type Options struct {
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// Bonus is granted once per account when it becomes verified.
	Bonus Bonus
	// MaxLicenceBytes caps the licence upload (DefaultMaxLicenceBytes, 5 MiB).
	MaxLicenceBytes int
	// AllowedTypes are the accepted licence content types, checked by
	// sniffing the bytes, never from the client's header (DefaultAllowedTypes).
	AllowedTypes []string
	// RevealRoles may see full numbers and licence files (DefaultRevealRoles).
	RevealRoles []string
	// LicenceRoles may see licence files (DefaultLicenceRoles).
	LicenceRoles []string
}

// Service runs verification. It is safe for concurrent use.
type Service struct {
	pool     db.Querier
	provider identity.Provider
	sealer   *piicrypto.Sealer
	index    *piicrypto.BlindIndex
	ledger   *ledger.Ledger
	opts     Options
}

// New returns a Service. provider confirms identities (identity.Sandbox in
// development); sealer and index protect the numbers; led receives the bonus.
func New(pool db.Querier, provider identity.Provider, sealer *piicrypto.Sealer, index *piicrypto.BlindIndex, led *ledger.Ledger, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxLicenceBytes <= 0 {
		opts.MaxLicenceBytes = DefaultMaxLicenceBytes
	}
	if len(opts.AllowedTypes) == 0 {
		opts.AllowedTypes = DefaultAllowedTypes
	}
	if len(opts.RevealRoles) == 0 {
		opts.RevealRoles = DefaultRevealRoles
	}
	if len(opts.LicenceRoles) == 0 {
		opts.LicenceRoles = DefaultLicenceRoles
	}
	return &Service{pool: pool, provider: provider, sealer: sealer, index: index, ledger: led, opts: opts}
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// LicenceInfo describes a stored licence file without its bytes.
type LicenceInfo struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	SHA256      string `json:"sha256"` // hex of the file's SHA-256
}

// Status is an account's verification as shown to the customer and to staff.
// It carries masked values only: Name is masked for persons (张*) and in full
// for companies (a company name is public), Number and LegalRep are masked.
type Status struct {
	VerificationID int64        `json:"verification_id"` // 0 when unverified
	AccountID      int64        `json:"account_id"`
	State          State        `json:"state"`
	Source         Source       `json:"source,omitempty"`
	Subject        Subject      `json:"subject,omitempty"`
	Reason         string       `json:"reason,omitempty"`
	Reference      string       `json:"reference,omitempty"` // provider's or gateway client's reference
	Name           string       `json:"name,omitempty"`
	MaskedNumber   string       `json:"masked_number,omitempty"`
	MaskedLegalRep string       `json:"masked_legal_rep,omitempty"`
	Licence        *LicenceInfo `json:"licence,omitempty"`
	SubmittedAt    *time.Time   `json:"submitted_at,omitempty"`
	DecidedAt      *time.Time   `json:"decided_at,omitempty"`
	DecidedBy      string       `json:"decided_by,omitempty"`
	// BonusGranted reports whether the account has received its verification bonus.
	BonusGranted bool `json:"bonus_granted"`
}

// Event is one state change of a verification.
type Event struct {
	ID             int64     `json:"id" db:"id"`
	VerificationID int64     `json:"verification_id" db:"verification_id"`
	AccountID      int64     `json:"account_id" db:"account_id"`
	FromState      State     `json:"from_state" db:"from_state"`
	ToState        State     `json:"to_state" db:"to_state"`
	Reason         string    `json:"reason" db:"reason"`
	Reference      string    `json:"reference" db:"reference"`
	Actor          string    `json:"actor" db:"actor"`
	At             time.Time `json:"at" db:"at"`
}

// row is a verifications row without the sealed columns.
type row struct {
	ID                 int64      `db:"id"`
	AccountID          int64      `db:"account_id"`
	Source             Source     `db:"source"`
	Subject            *Subject   `db:"subject"`
	State              State      `db:"state"`
	Reason             string     `db:"reason"`
	ProviderReference  string     `db:"provider_reference"`
	NameDisplay        string     `db:"name_display"`
	NumberMasked       string     `db:"number_masked"`
	LegalRepMasked     string     `db:"legal_rep_masked"`
	LicenceContentType *string    `db:"licence_content_type"`
	LicenceSize        *int       `db:"licence_size"`
	LicenceSHA256      *string    `db:"licence_sha256"`
	LicenceFilename    string     `db:"licence_filename"`
	SubmittedAt        time.Time  `db:"submitted_at"`
	DecidedAt          *time.Time `db:"decided_at"`
	DecidedBy          string     `db:"decided_by"`
	BonusGranted       bool       `db:"bonus_granted"`
}

const rowColumns = `v.id, v.account_id, v.source, v.subject, v.state, v.reason, v.provider_reference,
	v.name_display, v.number_masked, v.legal_rep_masked, v.licence_content_type, v.licence_size,
	v.licence_sha256, v.licence_filename, v.submitted_at, v.decided_at, v.decided_by,
	EXISTS (SELECT 1 FROM verification_bonuses b WHERE b.account_id = v.account_id) AS bonus_granted`

func (r row) status() Status {
	st := Status{
		VerificationID: r.ID, AccountID: r.AccountID, State: r.State, Source: r.Source,
		Reason: r.Reason, Reference: r.ProviderReference, Name: r.NameDisplay,
		MaskedNumber: r.NumberMasked, MaskedLegalRep: r.LegalRepMasked, DecidedAt: r.DecidedAt,
		DecidedBy: r.DecidedBy, BonusGranted: r.BonusGranted,
	}
	if r.Subject != nil {
		st.Subject = *r.Subject
	}
	sub := r.SubmittedAt
	st.SubmittedAt = &sub
	if r.LicenceSHA256 != nil {
		st.Licence = &LicenceInfo{Filename: r.LicenceFilename, SHA256: *r.LicenceSHA256}
		if r.LicenceContentType != nil {
			st.Licence.ContentType = *r.LicenceContentType
		}
		if r.LicenceSize != nil {
			st.Licence.Size = *r.LicenceSize
		}
	}
	return st
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func collectRows(ctx context.Context, q querier, sql string, args ...any) ([]row, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[row])
}

const sqlLatest = `SELECT ` + rowColumns + ` FROM verifications v WHERE v.account_id = $1 ORDER BY v.id DESC LIMIT 1`

const sqlByID = `SELECT ` + rowColumns + ` FROM verifications v WHERE v.id = $1`

// Status returns the account's current verification: its latest submission,
// or State unverified when it has none. Values are masked.
func (s *Service) Status(ctx context.Context, accountID int64) (Status, error) {
	rows, err := collectRows(ctx, s.pool, sqlLatest, accountID)
	if err != nil {
		return Status{}, fmt.Errorf("verification: status: %w", err)
	}
	if len(rows) == 0 {
		return Status{AccountID: accountID, State: StateUnverified}, nil
	}
	return rows[0].status(), nil
}

// Get returns one verification by id (masked). Errors: ErrNotFound.
func (s *Service) Get(ctx context.Context, verificationID int64) (Status, error) {
	rows, err := collectRows(ctx, s.pool, sqlByID, verificationID)
	if err != nil {
		return Status{}, fmt.Errorf("verification: get: %w", err)
	}
	if len(rows) == 0 {
		return Status{}, fmt.Errorf("verification: get: %w", ErrNotFound)
	}
	return rows[0].status(), nil
}

const sqlIsVerified = `SELECT EXISTS (SELECT 1 FROM verifications WHERE account_id = $1 AND state = 'verified')`

// IsVerified reports whether the account is verified: one indexed lookup, for
// the checkout and API gates. An error means "unknown"; gates should refuse.
func (s *Service) IsVerified(ctx context.Context, accountID int64) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, sqlIsVerified, accountID).Scan(&ok); err != nil {
		return false, fmt.Errorf("verification: is verified: %w", err)
	}
	return ok, nil
}

const sqlQueue = `SELECT ` + rowColumns + ` FROM verifications v WHERE v.state = 'pending' ORDER BY v.submitted_at, v.id`

// ReviewQueue lists pending verifications, oldest first (masked), for the
// back office's manual review.
func (s *Service) ReviewQueue(ctx context.Context) ([]Status, error) {
	rows, err := collectRows(ctx, s.pool, sqlQueue)
	if err != nil {
		return nil, fmt.Errorf("verification: review queue: %w", err)
	}
	out := make([]Status, len(rows))
	for i, r := range rows {
		out[i] = r.status()
	}
	return out, nil
}

const sqlHistory = `SELECT id, verification_id, account_id, from_state, to_state, reason, reference, actor, at
FROM verification_events WHERE account_id = $1 ORDER BY id`

// History lists every state change of the account's verifications, oldest first.
func (s *Service) History(ctx context.Context, accountID int64) ([]Event, error) {
	rows, err := s.pool.Query(ctx, sqlHistory, accountID)
	if err != nil {
		return nil, fmt.Errorf("verification: history: %w", err)
	}
	ev, err := pgx.CollectRows(rows, pgx.RowToStructByName[Event])
	if err != nil {
		return nil, fmt.Errorf("verification: history: %w", err)
	}
	return ev, nil
}

// lockAccount serialises writes to one account's verifications until tx ends.
func lockAccount(ctx context.Context, tx pgx.Tx, accountID int64) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('verification/' || $1::bigint::text, 0))`, accountID)
	return err
}

const sqlEvent = `INSERT INTO verification_events (verification_id, account_id, from_state, to_state, reason, reference, actor, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

func (s *Service) event(ctx context.Context, tx pgx.Tx, id, accountID int64, from, to State, reason, ref, actor string) error {
	_, err := tx.Exec(ctx, sqlEvent, id, accountID, from, to, reason, ref, actor, s.now())
	return err
}

// becameVerified does, inside tx, what an account's passing verification
// entails besides its own row: the account's trial in the ledger ends (the
// trial cap and the granted-credit-only rule lift), and the bonus is
// granted once (not for a verification vouched for by a gateway client,
// which holds no identity).
func (s *Service) becameVerified(ctx context.Context, tx pgx.Tx, accountID, verificationID int64, actor string, bonus bool) error {
	if err := s.ledger.EndTrialTx(ctx, tx, accountID, actor, "verified"); err != nil {
		return fmt.Errorf("end trial: %w", err)
	}
	if !bonus {
		return nil
	}
	return s.grantBonus(ctx, tx, accountID, verificationID, actor)
}

const sqlInsertBonus = `INSERT INTO verification_bonuses (account_id, verification_id, lot_id, amount, granted_at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO NOTHING`

// grantBonus credits the verification bonus inside tx, once per account: the
// ledger's idempotency key and verification_bonuses' primary key both say so.
func (s *Service) grantBonus(ctx context.Context, tx pgx.Tx, accountID, verificationID int64, actor string) error {
	b := s.opts.Bonus
	if !b.Amount.IsPositive() {
		return nil
	}
	var done bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM verification_bonuses WHERE account_id = $1)`, accountID).Scan(&done); err != nil || done {
		return err
	}
	var exp *time.Time
	if b.ExpiryDays > 0 {
		t := s.now().AddDate(0, 0, b.ExpiryDays)
		exp = &t
	}
	res, err := s.ledger.CreditTx(ctx, tx, ledger.CreditRequest{
		AccountID: accountID, Kind: ledger.LotPromo, Amount: b.Amount, ExpiresAt: exp,
		EventType: ledger.EventGrant, SourceRef: fmt.Sprintf("verification:%d", verificationID),
		Actor: actor, ReasonCode: "verification_bonus",
		IdempotencyKey: fmt.Sprintf("verification-bonus:%d", accountID),
	})
	if errors.Is(err, ledger.ErrIdempotencyConflict) {
		return nil // granted before, under other arguments
	}
	if err != nil {
		return fmt.Errorf("bonus: %w", err)
	}
	_, err = tx.Exec(ctx, sqlInsertBonus, accountID, verificationID, res.Lot.ID, res.Lot.Amount, s.now())
	return err
}

// may reports whether a viewer holding roles may see field: the licence to
// LicenceRoles, the number to RevealRoles.
func (s *Service) may(field string, roles []string) bool {
	allowed := s.opts.RevealRoles
	if field == "licence" {
		allowed = s.opts.LicenceRoles
	}
	for _, r := range roles {
		if slices.Contains(allowed, r) {
			return true
		}
	}
	return false
}
