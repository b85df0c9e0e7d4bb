// Package backoffice is the domain of the /admin pages: the audit log,
// maker-checker approvals, support grants with managed reason codes,
// account freezes and customer lookup, redemption codes (兑换码), bank
// statement import with automatic matching and the unmatched queue, manual
// recharges, channel-bill reconciliation, refund requests, the revenue
// reports, and the gateway API's service keys.
//
// Every staff operation takes an Actor (the signed-in staff user and the
// request's IP), checks the actor's role, runs as one transaction and writes
// its audit row inside that transaction, with the account's balance before
// and after. Credit is added through the ledger's CreditTx in the same
// transaction, after locking the account's pool row, so the audited balances
// are exact. Grants and manual recharges are limited per action and per
// Asia/Shanghai day (per staff member and per account, see limits.go); a
// grant over the day's room is split into an applied part and a pending
// approval, a recharge waits whole. Errors are *Error values with stable codes (i18n key
// "error.admin.<code>"), or the ledger's and reconcile's sentinels.
//
// Collaborators that live in other packages (payment orders, refunds,
// real-name verification, service keys) are small interfaces defined here:
// TransferOrders, OrderLookup, ChannelOrders, Refunder, Identities,
// ServiceKeys. A nil collaborator disables the feature that needs it.
package backoffice

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/costs"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/pricing"

	"github.com/seed75218f88/credits/internal/platform/format"
)

// Shanghai is the time zone reports and bill days are cut in.
var Shanghai = format.Shanghai

// Options configure a Service. Settings come from SettingsFromEnv; the
// collaborators are wired by cmd/credits once payments exists.
type Options struct {
	// Reader, when set, sends the reads of a report page or CSV pinned to
	// the standby there (the operator dashboard's roll-ups; db.Reader).
	Reader *db.Reader
	// Now is the clock (time.Now by default); tests move it.
	Now func() time.Time
	// Settings are the limits and throttles (DefaultSettings when zero).
	Settings Settings
	// CreditPriceRMB is the yuan price of one credit (ledger.DefaultCreditPriceRMB when zero).
	CreditPriceRMB decimal.Decimal

	// TransferOrders lets ImportStatement complete bank-transfer orders
	// and a manual recharge record its line as the customer's order; nil
	// leaves every line in the unmatched queue (a line credited by hand
	// then has no order).
	TransferOrders TransferOrders
	// Orders lets FindCustomers look up a customer by order number.
	Orders OrderLookup
	// ChannelOrders gives ImportChannelBill our side of a channel's day.
	ChannelOrders ChannelOrders
	// Refunder carries out approved refund requests.
	Refunder Refunder
	// Identities lets FindCustomers find a customer by its verified company
	// name and FindPayerCandidates show each account's verification.
	Identities Identities
	// Keys is the gateway's service key store: pass the one the API
	// server authenticates with, so a revocation drops its cache at once.
	Keys ServiceKeys
	// Plans lets admins comp, extend and grant plans and customers ask for
	// the refund of a yearly plan; nil refuses them.
	Plans PlanDesk
	// CreditLines grants credit lines and takes their bills' payments
	// (internal/creditline); nil refuses them.
	CreditLines *creditline.Service
	// PlanFees lists paid plan orders for the revenue report's plan-fee
	// figures; nil reports none.
	PlanFees PlanFees
	// Webhooks lets support and admins see webhook deliveries, replay
	// them and switch endpoints; nil refuses them (ErrNoWebhooks).
	Webhooks WebhookDesk
	// Pricing lets admins set customers' own rate cards (rate_cards.go);
	// nil refuses them.
	Pricing *pricing.Service
	// Costs lets finance and admins publish cost cards and read margins
	// (cost_cards.go); nil refuses them.
	Costs *costs.Service
	// PlanStats counts plan subscribers and churn for the operator
	// dashboard (analytics.go); nil shows none.
	PlanStats PlanStats
	// OnPriceChange is told of each account whose own rate card changed
	// (the gateway drops its cached copy).
	OnPriceChange func(accountID int64)
	// Current, when set, gives the settings in force for each operation
	// (the settings screen, internal/settings), replacing Settings.
	Current func() Settings
}

// Service is the back office. It is safe for concurrent use.
type Service struct {
	pool   db.Querier
	ledger *ledger.Ledger
	users  *auth.Service
	opt    Options
}

// read is where this request's staleness-tolerant reads go (db.Reader.For).
func (s *Service) read(ctx context.Context) db.DBTX { return s.opt.Reader.Or(ctx, s.pool) }

// New returns a Service over pool, the ledger and the users.
func New(pool db.Querier, l *ledger.Ledger, users *auth.Service, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Settings == (Settings{}) {
		opts.Settings = DefaultSettings()
	}
	if !opts.CreditPriceRMB.IsPositive() {
		opts.CreditPriceRMB = ledger.DefaultCreditPriceRMB
	}
	return &Service{pool: pool, ledger: l, users: users, opt: opts}
}

func (s *Service) now() time.Time { return s.opt.Now().UTC() }

// Settings returns the limits and throttles in force: Options.Current's
// when set.
func (s *Service) Settings() Settings {
	if s.opt.Current != nil {
		return s.opt.Current()
	}
	return s.opt.Settings
}

// Actor is who performs a staff action: the signed-in staff user and the
// IP address of the request (empty when not over HTTP, e.g. the CLI).
type Actor struct {
	User auth.User
	IP   string
}

// ref is how the ledger records the actor ("staff:<user id>").
func (a Actor) ref() string { return "staff:" + strconv.FormatInt(a.User.ID, 10) }

// require checks that the actor is an enabled staff user holding one of roles.
func (a Actor) require(roles ...auth.Role) error {
	if !auth.HasAnyRole(a.User, roles...) {
		return ErrForbidden
	}
	return nil
}

// inTx runs fn in one transaction, retrying serialization failures.
func (s *Service) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return db.InTx(ctx, s.pool, fn)
}

// lockBalance locks the pool row of accountID until tx ends and returns its
// ledger balance (the credit in its lots). The ledger takes the same lock
// when it credits, so a balance read here before and after a CreditTx is
// exact. Errors: ErrAccountNotFound.
func lockBalance(ctx context.Context, tx pgx.Tx, accountID int64) (decimal.Decimal, error) {
	_, b, err := lockPool(ctx, tx, accountID)
	return b, err
}

// readBalance is lockBalance without the lock.
func readBalance(ctx context.Context, q db.DBTX, accountID int64) (decimal.Decimal, error) {
	b, err := ledger.PoolBalance(ctx, q, accountID)
	if errors.Is(err, ledger.ErrNotFound) {
		return b, ErrAccountNotFound
	}
	if err != nil {
		return b, fmt.Errorf("backoffice: balance of %d: %w", accountID, err)
	}
	return b, nil
}

func ptr[T any](v T) *T { return &v }
