// Package referral is the customers' invite programme: every account has an
// invite code (link /signup?ref=CODE), a sign-up through it records the
// inviter on the new account, and when the invitee — verified (实名) — pays
// its first top-up the inviter receives a promo lot: a percent of that
// top-up's credits, capped (business setting referral.reward).
//
// The reward is granted at most once per invitee and once per identity (the
// verification's blind index of the ID number or credit code): the
// referral_grants row is inserted with ON CONFLICT DO NOTHING in the
// transaction that marks the top-up paid, and the promo lot is credited in
// the same transaction, so any number of racing payments grant once. An
// invitee of the inviter's own identity is refused. Grants are promotional
// credit, never revenue.
package referral

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
)

// Errors.
var (
	// ErrUnknownCode: no account has this invite code.
	ErrUnknownCode = errors.New("referral: unknown invite code")
)

// CodeLength is the length of an invite code; its characters are
// CodeAlphabet (no 0/O, 1/I/L: codes are read aloud and typed).
const CodeLength = 8

// CodeAlphabet are the characters of an invite code.
const CodeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// Reward is the inviter's reward: Percent of the invitee's first paid
// top-up (its paid credits, the bonus excluded), at most Cap credits. A zero
// Percent turns rewards off.
type Reward struct {
	Percent decimal.Decimal `json:"percent"`
	Cap     decimal.Decimal `json:"cap"`
}

// DefaultReward is 10 % of the first top-up, at most 50,000 credits.
var DefaultReward = Reward{Percent: decimal.NewFromInt(10), Cap: decimal.NewFromInt(50000)}

// Amount is the reward for a top-up of credits: credits × Percent ÷ 100,
// rounded once as the ledger rounds, at most Cap; zero when off.
func (r Reward) Amount(credits decimal.Decimal) decimal.Decimal {
	if !r.Percent.IsPositive() || !credits.IsPositive() {
		return decimal.Zero
	}
	a := ledger.Round(credits.Mul(r.Percent).Div(decimal.NewFromInt(100)))
	if a.GreaterThan(r.Cap) {
		a = r.Cap
	}
	return a
}

// Identities reads accounts' verified identities (internal/verification).
type Identities struct {
	// Verified is the identity hash of the account's verified verification
	// ("" when not verified or verified without an identity).
	Verified func(ctx context.Context, tx pgx.Tx, accountID int64) (string, error)
	// All are every identity hash the account ever submitted.
	All func(ctx context.Context, tx pgx.Tx, accountID int64) ([]string, error)
}

// Options configures a Service.
type Options struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Current is the reward in force (the business settings); DefaultReward
	// when nil.
	Current func() Reward
	// Logger receives rewards that failed (the payment still succeeds).
	Logger *slog.Logger
}

// Service records invitations and grants rewards.
type Service struct {
	pool   db.Querier
	ledger *ledger.Ledger
	ids    Identities
	opts   Options
}

// New returns the referral service.
func New(pool db.Querier, l *ledger.Ledger, ids Identities, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Current == nil {
		opts.Current = func() Reward { return DefaultReward }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{pool: pool, ledger: l, ids: ids, opts: opts}
}

// Reward is the reward in force.
func (s *Service) Reward() Reward { return s.opts.Current() }

// NormalizeCode is code as stored: trimmed, upper case, full-width
// characters folded; "" when it cannot be a code.
func NormalizeCode(code string) string {
	c := strings.ToUpper(strings.TrimSpace(format.NormalizeDigits(code)))
	if len(c) != CodeLength {
		return ""
	}
	for _, r := range c {
		if !strings.ContainsRune(CodeAlphabet, r) {
			return ""
		}
	}
	return c
}

func newCode() string {
	b := make([]byte, CodeLength)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = CodeAlphabet[int(b[i])%len(CodeAlphabet)]
	}
	return string(b)
}

const sqlInsertCode = `INSERT INTO referral_codes (account_id, code, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`

const sqlCodeOf = `SELECT code FROM referral_codes WHERE account_id = $1`

// Code is the account's invite code, made the first time it is asked for
// (concurrent first calls agree on one). Errors: database errors.
func (s *Service) Code(ctx context.Context, accountID int64) (string, error) {
	var code string
	for range 5 {
		err := s.pool.QueryRow(ctx, sqlCodeOf, accountID).Scan(&code)
		if err == nil {
			return code, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("referral: code: %w", err)
		}
		// Nothing inserted means another call made the account's code, or
		// the random code is taken: read again, or try another.
		if _, err := s.pool.Exec(ctx, sqlInsertCode, accountID, newCode(), s.opts.Now().UTC()); err != nil {
			return "", fmt.Errorf("referral: code: %w", err)
		}
	}
	return "", fmt.Errorf("referral: code: no free code for account %d", accountID)
}

const sqlInviterOf = `SELECT account_id FROM referral_codes WHERE code = $1`

// Inviter is the account whose invite code is code. Errors: ErrUnknownCode,
// database errors.
func (s *Service) Inviter(ctx context.Context, code string) (int64, error) {
	return inviter(ctx, s.pool, code)
}

func inviter(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, code string) (int64, error) {
	c := NormalizeCode(code)
	if c == "" {
		return 0, ErrUnknownCode
	}
	var id int64
	err := q.QueryRow(ctx, sqlInviterOf, c).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrUnknownCode
	}
	if err != nil {
		return 0, fmt.Errorf("referral: inviter: %w", err)
	}
	return id, nil
}

const sqlInsertReferral = `INSERT INTO referrals (invitee_account_id, inviter_account_id, code, created_at)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`

// RecordTx records, inside the sign-up's transaction tx, that code's
// account invited the new account invitee. An unknown code, or the
// invitee's own, records nothing and returns false: the sign-up goes on.
// Errors: database errors.
func (s *Service) RecordTx(ctx context.Context, tx pgx.Tx, invitee int64, code string) (bool, error) {
	inv, err := inviter(ctx, tx, code)
	if errors.Is(err, ErrUnknownCode) || (err == nil && inv == invitee) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, sqlInsertReferral, invitee, inv, NormalizeCode(code), s.opts.Now().UTC())
	if err != nil {
		return false, fmt.Errorf("referral: record: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// TopUp is a paid top-up of the invitee, as payments reports it.
type TopUp struct {
	AccountID int64
	OrderNo   string
	Credits   decimal.Decimal // the paid credits (bonus excluded)
	PaidFen   int64
}

// Grant is one reward granted.
type Grant struct {
	InviteeID    int64           `db:"invitee_account_id"`
	InviterID    int64           `db:"inviter_account_id"`
	OrderNo      string          `db:"order_no"`
	TopUpCredits decimal.Decimal `db:"topup_credits"`
	PaidFen      int64           `db:"paid_fen"`
	Percent      decimal.Decimal `db:"percent"`
	Cap          decimal.Decimal `db:"cap"`
	Amount       decimal.Decimal `db:"amount"`
	GrantedAt    time.Time       `db:"granted_at"`
}

// Outcome says what RewardTx did.
type Outcome string

// The outcomes.
const (
	Granted      Outcome = "granted"
	NotInvited   Outcome = "not_invited"   // nobody invited the account
	NotVerified  Outcome = "not_verified"  // no verified identity (yet)
	SelfReferral Outcome = "self_referral" // the invitee has an identity of the inviter
	AlreadyDone  Outcome = "already"       // this invitee, or this identity, was rewarded before
	RewardsOff   Outcome = "off"           // the reward rounds to nothing or is switched off
	Failed       Outcome = "failed"        // the ledger refused the credit (logged; the payment goes on)
)

const sqlInviterOfInvitee = `SELECT inviter_account_id FROM referrals WHERE invitee_account_id = $1`

const sqlInsertGrant = `INSERT INTO referral_grants (invitee_account_id, inviter_account_id, identity_hash, order_no,
	topup_credits, paid_fen, percent, cap, amount, granted_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT DO NOTHING`

// GrantKey is the ledger idempotency key of the reward for invitee.
func GrantKey(invitee int64) string { return "referral:" + strconv.FormatInt(invitee, 10) }

// RewardTx grants the inviter's reward for the invitee's paid top-up t,
// inside tx — the transaction that marks t paid — when the invitee was
// invited, is verified with an identity, is not of the inviter's identity,
// and neither it nor its identity was rewarded before: the referral_grants
// row (unique per invitee and per identity) and the promo lot commit or
// roll back with the payment. The first paid top-up once verified is the
// one rewarded. A reward the ledger refuses (the inviter's account closed)
// is logged and skipped so that the payment still succeeds. Errors:
// database errors that abort tx (serialization failures and deadlocks, to
// be retried with the payment).
func (s *Service) RewardTx(ctx context.Context, tx pgx.Tx, t TopUp) (Outcome, error) {
	var inviterID int64
	err := tx.QueryRow(ctx, sqlInviterOfInvitee, t.AccountID).Scan(&inviterID)
	if errors.Is(err, pgx.ErrNoRows) {
		return NotInvited, nil
	}
	if err != nil {
		return "", fmt.Errorf("referral: reward: %w", err)
	}
	hash, err := s.ids.Verified(ctx, tx, t.AccountID)
	if err != nil {
		return "", fmt.Errorf("referral: reward: %w", err)
	}
	if hash == "" {
		return NotVerified, nil
	}
	own, err := s.ids.All(ctx, tx, inviterID)
	if err != nil {
		return "", fmt.Errorf("referral: reward: %w", err)
	}
	if slices.Contains(own, hash) {
		return SelfReferral, nil
	}
	r := s.opts.Current()
	amount := r.Amount(t.Credits)
	if !amount.IsPositive() {
		return RewardsOff, nil
	}
	// A savepoint: a reward the ledger refuses must not undo the payment.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return "", fmt.Errorf("referral: reward: %w", err)
	}
	out, err := s.grantTx(ctx, sp, t, inviterID, hash, r, amount)
	if err == nil {
		err = sp.Commit(ctx)
	}
	if err != nil {
		_ = sp.Rollback(ctx)
		if db.IsRetryable(err) || ctx.Err() != nil {
			return "", fmt.Errorf("referral: reward: %w", err)
		}
		s.opts.Logger.Error("referral: reward not granted", "invitee", t.AccountID, "inviter", inviterID,
			"order_no", t.OrderNo, "error", err)
		return Failed, nil
	}
	return out, nil
}

func (s *Service) grantTx(ctx context.Context, tx pgx.Tx, t TopUp, inviterID int64, hash string, r Reward, amount decimal.Decimal) (Outcome, error) {
	tag, err := tx.Exec(ctx, sqlInsertGrant, t.AccountID, inviterID, hash, t.OrderNo, t.Credits, t.PaidFen,
		r.Percent, r.Cap, amount, s.opts.Now().UTC())
	if err != nil {
		return "", err
	}
	if tag.RowsAffected() == 0 {
		return AlreadyDone, nil
	}
	_, err = s.ledger.CreditTx(ctx, tx, ledger.CreditRequest{
		AccountID: inviterID, Kind: ledger.LotPromo, Amount: amount, EventType: ledger.EventGrant,
		SourceRef: grantSource(t.AccountID, t.OrderNo), Actor: "system:referral",
		ReasonCode: "referral_reward", IdempotencyKey: GrantKey(t.AccountID),
	})
	if err != nil {
		return "", err
	}
	return Granted, nil
}

// ReasonReclaimed is the reason code of the ledger expiry event that takes
// back a reward's share when the top-up it rewarded is refunded.
const ReasonReclaimed = "referral_reclaimed"

// Refunded is a refund of an invitee's top-up: how much of its paid credits
// (Paid) all its refunds removed before this one (Before) and with it
// (After), and the refund's number.
type Refunded struct {
	AccountID           int64 // the invitee
	OrderNo, RefundNo   string
	Paid, Before, After decimal.Decimal
}

// share is the part of amount that goes with refunded of paid credits:
// amount × refunded ÷ paid, rounded once as the ledger rounds; all of it
// once everything is refunded.
func share(amount, refunded, paid decimal.Decimal) decimal.Decimal {
	if !paid.IsPositive() || refunded.GreaterThanOrEqual(paid) {
		return amount
	}
	return ledger.Round(amount.Mul(refunded).Div(paid))
}

const sqlGrantOfOrder = `SELECT inviter_account_id, amount FROM referral_grants WHERE invitee_account_id = $1 AND order_no = $2`

// ReclaimTx takes back, inside tx — the refund's transaction — the
// inviter's reward for the top-up r refunds, in the share of its paid
// credits this refund removed (the reward was that share of them; all of
// what is left once the top-up is wholly refunded), from what the reward
// lot has left: what the inviter already spent stays spent. A top-up that
// earned no reward takes nothing. The ledger event is an expiry with reason
// referral_reclaimed, keyed by the refund, so a retried refund takes once.
// A revocation the ledger refuses (the inviter's account closed) is logged
// and skipped so that the refund still goes on. Errors: database errors
// that abort tx (to be retried with the refund).
func (s *Service) ReclaimTx(ctx context.Context, tx pgx.Tx, r Refunded) (decimal.Decimal, error) {
	var inviterID int64
	var amount decimal.Decimal
	err := tx.QueryRow(ctx, sqlGrantOfOrder, r.AccountID, r.OrderNo).Scan(&inviterID, &amount)
	if errors.Is(err, pgx.ErrNoRows) {
		return decimal.Zero, nil
	}
	if err != nil {
		return decimal.Zero, fmt.Errorf("referral: reclaim: %w", err)
	}
	due := share(amount, r.After, r.Paid).Sub(share(amount, r.Before, r.Paid))
	if !due.IsPositive() {
		return decimal.Zero, nil
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return decimal.Zero, fmt.Errorf("referral: reclaim: %w", err)
	}
	res, err := func() (ledger.RevokeResult, error) {
		lot, err := ledger.LotBySourceTx(ctx, sp, inviterID, grantSource(r.AccountID, r.OrderNo))
		if err != nil {
			return ledger.RevokeResult{}, err
		}
		return s.ledger.RevokeTx(ctx, sp, ledger.RevokeRequest{LotID: lot.ID, Amount: due,
			IdempotencyKey: "referral-reclaim:" + r.RefundNo, Actor: "system:referral", Reason: ReasonReclaimed,
			SourceRef: "payment_refund:" + r.RefundNo})
	}()
	if err == nil {
		err = sp.Commit(ctx)
	}
	if err != nil {
		_ = sp.Rollback(ctx)
		if db.IsRetryable(err) || ctx.Err() != nil {
			return decimal.Zero, fmt.Errorf("referral: reclaim: %w", err)
		}
		s.opts.Logger.Error("referral: reward not taken back", "invitee", r.AccountID, "inviter", inviterID,
			"order_no", r.OrderNo, "refund_no", r.RefundNo, "error", err)
		return decimal.Zero, nil
	}
	return res.Revoked, nil
}

// grantSource is the reward lot's source reference.
func grantSource(invitee int64, orderNo string) string {
	return "referral:" + strconv.FormatInt(invitee, 10) + ":" + orderNo
}

// Summary is what the invite page shows an inviter.
type Summary struct {
	Code    string
	Invited int             // accounts signed up with the code
	Granted decimal.Decimal // credits received in total
	Grants  []Grant         // newest first, at most 50
}

const sqlInvitedCount = `SELECT count(*) FROM referrals WHERE inviter_account_id = $1`

const sqlGrantsOf = `SELECT invitee_account_id, inviter_account_id, order_no, topup_credits, paid_fen, percent, cap, amount, granted_at
FROM referral_grants WHERE inviter_account_id = $1 ORDER BY granted_at DESC, invitee_account_id DESC`

// Summary is the account's invite code (made if needed), how many it
// invited and the rewards it received. Errors: database errors.
func (s *Service) Summary(ctx context.Context, accountID int64) (Summary, error) {
	code, err := s.Code(ctx, accountID)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Code: code, Granted: decimal.Zero}
	if err := s.pool.QueryRow(ctx, sqlInvitedCount, accountID).Scan(&sum.Invited); err != nil {
		return Summary{}, fmt.Errorf("referral: summary: %w", err)
	}
	rows, _ := s.pool.Query(ctx, sqlGrantsOf, accountID)
	gs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Grant])
	if err != nil {
		return Summary{}, fmt.Errorf("referral: summary: %w", err)
	}
	for i, g := range gs {
		sum.Granted = sum.Granted.Add(g.Amount)
		if i < 50 {
			sum.Grants = append(sum.Grants, g)
		}
	}
	return sum, nil
}

const sqlGrantsBetween = `SELECT invitee_account_id, inviter_account_id, order_no, topup_credits, paid_fen, percent, cap, amount, granted_at
FROM referral_grants WHERE granted_at >= $1 AND granted_at < $2 ORDER BY granted_at DESC, invitee_account_id DESC LIMIT $3`

// MaxListed bounds the grants Grants returns.
const MaxListed = 500

// Grants lists the rewards granted in [from, to), newest first, at most
// MaxListed (the back office's report). Errors: database errors.
func (s *Service) Grants(ctx context.Context, from, to time.Time) ([]Grant, error) {
	rows, _ := s.pool.Query(ctx, sqlGrantsBetween, from, to, MaxListed)
	gs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Grant])
	if err != nil {
		return nil, fmt.Errorf("referral: grants: %w", err)
	}
	return gs, nil
}
