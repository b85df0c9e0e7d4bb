// Package autotopup keeps a customer's balance up without them: after they
// sign an agreement payment (WeChat Pay 委托代扣 or Alipay 商家扣款) in the
// portal, a crossing of their available credit below the threshold they set
// makes one top-up order, debited against the agreement.
//
// # How a crossing becomes one top-up
//
// The ledger's event table is the outbox, read as the balance alerts read it
// (internal/gateway/alerts.go): ScanEvents locks a cursor row, reads the
// events after it, and per pool keeps "armed" — whether available credit
// has been at or above the threshold since the last top-up. An event that
// leaves an armed pool below the threshold disarms it and, in the same
// transaction, checks the rules (the monthly cap, the channel's per-debit
// and daily limits, and that a second crossing the same Beijing day follows
// only a succeeded one), creates the payment order
// (payments.CreateAgreementOrderTx), records the run and enqueues the debit
// job. The cursor lock serialises scanners and (account, crossing event) is
// unique, so however many calls cross at once, one order is made.
//
// # The debit
//
// DebitWorker debits the order against the agreement with the order number
// as out_trade_no (the channel debits one number at most once). A success
// credits the paid lot and bonus exactly as a QR top-up (same order, same
// notify path); insufficient funds, a limit or a channel error are retried
// with backoff up to MaxAttempts, then the run fails, auto top-up pauses and
// the customer gets a mail and a webhook; a contract revoked at the channel
// pauses at once. Every debit, failure and change is in autotopup_history
// and the audit log.
package autotopup

import (
	"errors"
	"log/slog"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/webhook"
)

// Errors of the package.
var (
	// ErrNotFound: no such agreement (or no agreement in force).
	ErrNotFound = errors.New("autotopup: not found")
	// ErrAgreementInForce: the account already has a signed agreement;
	// unsign it before signing another.
	ErrAgreementInForce = errors.New("autotopup: an agreement is already in force")
	// ErrInvalidState: the agreement's state does not allow the action
	// (resume a terminated one, pause a pending one).
	ErrInvalidState = errors.New("autotopup: not possible in the agreement's state")
)

// State is an agreement's state.
type State string

// Agreement states.
const (
	StatePending    State = "pending"    // signing page shown, not signed yet
	StateSigned     State = "signed"     // in force: crossings top up
	StatePaused     State = "paused"     // in force at the channel, but no top-ups
	StateTerminated State = "terminated" // ended, by the customer, the channel or us
)

// Pause reasons.
const (
	PauseByCustomer      = "customer"
	PauseDebitFailed     = "debit_failed"
	PauseContractRevoked = "contract_revoked"
)

// Run purposes.
const (
	PurposeTopUp       = "topup"
	PurposePlanRenewal = "plan_renewal"
)

// Run states.
const (
	RunDebiting  = "debiting"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
)

// Limits are a channel's own limits on agreement debits, in fen (0: none).
type Limits struct {
	PerDebitFen int64
	DailyFen    int64
}

// Options configure a Service; zero values take the defaults named.
type Options struct {
	// Limits per channel; a tier above PerDebitFen is refused at settings
	// time, and debits of a day beyond DailyFen are not made.
	Limits map[payments.Channel]Limits
	// MaxAttempts debits of one run before it fails and pauses (4).
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after n failed ones (1 min,
	// 5 min, 30 min, …).
	Backoff func(failed int) time.Duration
	// OrderTTL is how long an agreement order stays open (24 h).
	OrderTTL time.Duration
	// GapTimeout after which a gap in ledger event ids is skipped (2 min).
	GapTimeout time.Duration
	// Batch is the most events one scan reads (1,000).
	Batch int
	// PortalURL is the portal's auto top-up page, named in mails.
	PortalURL string
	// Renewals are the plan renewals to pay by agreement (nil: plan
	// renewals are not paid by agreement).
	Renewals Renewals
	// RenewalNoticeLead is how long before the renewal date the renewal's
	// order is made and the pre-debit notice sent (24 h).
	RenewalNoticeLead time.Duration
	Now               func() time.Time
	Logger            *slog.Logger
	I18n              *i18n.Bundle
}

// BackoffFrom waits base after the first failed debit, 5× base after the
// second and 30× base after every later one.
func BackoffFrom(base time.Duration) func(failed int) time.Duration {
	if base <= 0 {
		base = time.Minute
	}
	return func(failed int) time.Duration {
		steps := []time.Duration{base, 5 * base, 30 * base}
		return steps[min(max(failed-1, 0), len(steps)-1)]
	}
}

// DefaultLimits are the channels' usual limits for agreement debits:
// WeChat Pay ¥500 per debit and ¥2,000 a day (its 委托代扣 templates'
// usual single and daily limits), Alipay ¥2,000 per debit and ¥5,000 a day.
// The real ones come with the merchant's contract: set them in the
// environment (README, "Auto top-up").
func DefaultLimits() map[payments.Channel]Limits {
	return map[payments.Channel]Limits{
		payments.ChannelWeChat: {PerDebitFen: 50000, DailyFen: 200000},
		payments.ChannelAlipay: {PerDebitFen: 200000, DailyFen: 500000},
	}
}

// Service is auto top-up.
type Service struct {
	pool     db.Querier
	payments *payments.Service
	jobs     jobs.Inserter
	webhooks *webhook.Service
	opts     Options
}

// New returns the service. ins enqueues the debit, mail and webhook jobs
// inside the transactions that decide them.
func New(pool db.Querier, pay *payments.Service, ins jobs.Inserter, webhooks *webhook.Service, opts Options) (*Service, error) {
	if opts.Limits == nil {
		opts.Limits = DefaultLimits()
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 4
	}
	if opts.Backoff == nil {
		opts.Backoff = BackoffFrom(time.Minute)
	}
	if opts.RenewalNoticeLead <= 0 {
		opts.RenewalNoticeLead = 24 * time.Hour
	}
	if opts.OrderTTL <= 0 {
		opts.OrderTTL = 24 * time.Hour
	}
	if opts.GapTimeout <= 0 {
		opts.GapTimeout = 2 * time.Minute
	}
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.I18n == nil {
		b, err := i18n.Default()
		if err != nil {
			return nil, err
		}
		opts.I18n = b
	}
	return &Service{pool: pool, payments: pay, jobs: ins, webhooks: webhooks, opts: opts}, nil
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// chinaTime is Beijing time: days and months of caps and limits are
// Beijing's.
var chinaTime = time.FixedZone("CST", 8*3600)

// Agreement is one agreement of an account.
type Agreement struct {
	ID           int64            `db:"id"`
	AccountID    int64            `db:"account_id"`
	Channel      payments.Channel `db:"channel"`
	AgreementNo  string           `db:"agreement_no"`
	ContractID   *string          `db:"contract_id"`
	State        State            `db:"state"`
	PauseReason  string           `db:"pause_reason"`
	SignedAt     *time.Time       `db:"signed_at"`
	TerminatedAt *time.Time       `db:"terminated_at"`
	// UnsignRequestedAt: the customer unsigned in the portal.
	UnsignRequestedAt *time.Time `db:"unsign_requested_at"`
	CreatedAt         time.Time  `db:"created_at"`
	UpdatedAt         time.Time  `db:"updated_at"`
}

// InForce reports whether the agreement is signed at the channel (signed
// or paused).
func (a Agreement) InForce() bool { return a.State == StateSigned || a.State == StatePaused }

// Run is one top-up made for a crossing.
type Run struct {
	ID          int64  `db:"id"`
	AccountID   int64  `db:"account_id"`
	AgreementID int64  `db:"agreement_id"`
	Purpose     string `db:"purpose"` // PurposeTopUp or PurposePlanRenewal
	// CrossingEventID is the ledger event of a top-up's crossing;
	// SubscriptionID and PeriodStart the period a renewal pays.
	CrossingEventID *int64     `db:"crossing_event_id"`
	SubscriptionID  *int64     `db:"subscription_id"`
	PeriodStart     *time.Time `db:"period_start"`
	NotBefore       *time.Time `db:"not_before"`
	OrderNo         string     `db:"order_no"`
	AmountFen       int64      `db:"amount_fen"`
	Day             time.Time  `db:"day"`
	State           string     `db:"state"`
	Attempts        int        `db:"attempts"`
	AcceptedAt      *time.Time `db:"accepted_at"`
	NextAttemptAt   *time.Time `db:"next_attempt_at"`
	LastError       string     `db:"last_error"`
	CreatedAt       time.Time  `db:"created_at"`
	UpdatedAt       time.Time  `db:"updated_at"`
}

// HistoryEntry is one line of the customer's auto top-up history.
type HistoryEntry struct {
	ID     int64          `db:"id"`
	At     time.Time      `db:"at"`
	Kind   string         `db:"kind"`
	Detail map[string]any `db:"detail"`
}

// History kinds.
const (
	HistorySigningStarted = "signing_started"
	HistorySigned         = "signed"
	HistoryTerminated     = "terminated"
	HistoryPaused         = "paused"
	HistoryResumed        = "resumed"
	HistorySettings       = "settings_changed"
	HistoryDebitRequested = "debit_requested"
	HistoryPreDebitNotice = "pre_debit_notice"
	HistoryDebitSucceeded = "debit_succeeded"
	HistoryDebitFailed    = "debit_failed"
	HistorySkipped        = "skipped"
)

// yuan renders fen as yuan with two places.
func yuan(fen int64) string { return decimal.New(fen, -2).StringFixed(2) }
