// Package app is the composition root: Build turns the one configuration
// into every domain service, wired to each other, exactly once per process.
// `credits serve`, `credits seed` and the tests' server (web/webtest) all
// build through it, so tests run the production wiring; the only
// differences they may ask for are the test-only Overrides (a clock, the
// payment channels, cheap password hashing, where mail goes).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/autotopup"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/budget"
	"github.com/seed75218f88/credits/internal/costs"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/forecast"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/journal"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/products"
	"github.com/seed75218f88/credits/internal/ratelimit"
	"github.com/seed75218f88/credits/internal/refcode"
	"github.com/seed75218f88/credits/internal/referral"
	"github.com/seed75218f88/credits/internal/relay"
	"github.com/seed75218f88/credits/internal/settings"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/internal/statement"
	"github.com/seed75218f88/credits/internal/team"
	"github.com/seed75218f88/credits/internal/usage"
	"github.com/seed75218f88/credits/internal/usagestream"
	"github.com/seed75218f88/credits/internal/verification"
	"github.com/seed75218f88/credits/internal/webhook"
	"github.com/seed75218f88/credits/web"
)

// Overrides are what tests may replace; production passes the zero value.
type Overrides struct {
	// Now is every service's clock (time.Now).
	Now func() time.Time
	// Channels replace the configured WeChat Pay and Alipay channels.
	Channels *payments.Channels
	// Argon2 replaces the password hashing cost (tests hash cheaply).
	Argon2 *auth.Argon2Params
	// Limiter replaces the rate limiter config.RedisURL selects.
	Limiter ratelimit.Limiter
	// Mail replaces the sender config.SMTP selects.
	Mail mail.Sender
	// KeyCacheTTL replaces how long the gateway caches keys, accounts and
	// verification (tests that verify and call at once).
	KeyCacheTTL time.Duration
	// ViewCache replaces the portal's view cache lifetime (negative: off,
	// for measurements).
	ViewCache time.Duration
	// FastJobs makes the River client poll every 20 ms without start-up
	// jitter, so a test's jobs run within milliseconds.
	FastJobs bool
	// SkipTwoFactor lets admin and finance staff into /admin without TOTP
	// (tests that are not about sign-in).
	SkipTwoFactor bool
}

// App is every domain service one process runs, built once from the
// configuration, and the River client working their background jobs.
type App struct {
	Config config.Config
	Pool   *pgxpool.Pool
	Logger *slog.Logger
	I18n   *i18n.Bundle
	Ledger *ledger.Ledger
	Auth   *auth.Service
	Signup *signup.Service
	// Referrals are the invite codes and the inviters' rewards.
	Referrals *referral.Service
	Usage     *usage.Store
	Mail      mail.Sender
	Pricing   *pricing.Service
	// Costs are the cost cards: what the platform pays upstream per model.
	Costs *costs.Service
	// Journal is the book-keeping journal export (internal/journal).
	Journal *journal.Service
	Plans   *plans.Service
	// Subscriptions are accounts' plans and their monthly plan credits.
	Subscriptions *plans.Subscriptions
	// Quotas spends plan quota for covered calls (the gateway's) and reads
	// quota windows (the portal's bars).
	Quotas *plans.Quotas
	// Products are the one-time products and the entitlements they deliver.
	Products     *products.Service
	Gateway      *gateway.Service
	Payments     *payments.Service
	Backoffice   *backoffice.Service
	CreditLines  *creditline.Service
	Verification *verification.Service
	Invoicing    *invoicing.Service
	Webhooks     *webhook.Service
	// AutoTopUp keeps balances up by agreement payments (委托代扣, 商家扣款).
	AutoTopUp *autotopup.Service
	// Budgets are customers' spending budgets (the ledger enforces them)
	// and their alerts.
	Budgets *budget.Service
	// Access holds the model allow-lists (internal/access).
	Access *access.Service
	// Forecast sends the daily run-out alerts (balance.runway_low).
	Forecast *forecast.Service
	Jobs     *jobs.Client
	// Settings are the business settings admins change on the settings
	// screen; the services below read them per operation.
	Settings *settings.Store
	// RelayKeys are the customers' API keys of the OpenAI-compatible
	// gateway (portal), RelayUpstreams its upstreams (back office).
	RelayKeys      *relay.Keys
	RelayUpstreams *relay.Upstreams
	// Team is the members of enterprise accounts and their invitations.
	Team *team.Service
	// UsageStream queues usage events in NATS JetStream (NATS_URL set; nil
	// otherwise: usage is charged in the request).
	UsageStream *usagestream.Stream
	// Reader sends staleness-tolerant reads (portal pages, reports, CSV)
	// to the standby when DATABASE_REPLICA_URL is set (db.Reader).
	Reader *db.Reader
	// Invalidation hears what other processes changed (sign-outs, revoked
	// keys, settings, cards) and drops this process's cached copies.
	Invalidation *invalidate.Hub

	viewCache time.Duration
	overrides Overrides
	closers   []func()
}

// Build builds every service from cfg over pool; a nil logger discards. A
// bad setting ends here with one line naming it.
func Build(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, logger *slog.Logger, o Overrides) (_ *App, err error) {
	if pool == nil {
		return nil, errors.New("app: Build needs a database pool")
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &App{Config: cfg, Pool: pool, Logger: logger, viewCache: o.ViewCache, overrides: o}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	production := cfg.Env == config.Production
	if a.I18n, err = i18n.Default(); err != nil {
		return nil, err
	}
	// Reads that may be a little stale go to the standby, when there is
	// one, through one Reader (internal/platform/db reader.go).
	var standby *pgxpool.Pool
	if cfg.Database.ReplicaURL != "" {
		if standby, err = db.OpenStandby(ctx, cfg.Database.ReplicaURL); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, standby.Close)
	}
	a.Reader = db.NewReader(pool, standby, db.ReaderOptions{MaxLag: cfg.Database.ReplicaMaxLag, Logger: logger})
	probeCtx, stopProbe := context.WithCancel(context.Background())
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); a.Reader.Run(probeCtx) }()
	a.closers = append(a.closers, func() { stopProbe(); <-probeDone })
	// What the domain services read and write through: the primary, whose
	// reads in a page stand in on the standby while no primary answers (a
	// failover, db.Reader.Failover). Jobs, listeners and tools keep pool.
	pages := a.Reader.Failover()

	// The business settings: the environment's values until an admin
	// changes one on the settings screen (internal/settings).
	a.Settings = settings.New(pages, settings.Defaults(cfg.Payments, cfg.Backoffice, cfg.Gateway.TrialCap, cfg.Grace,
		cfg.Gateway.ReminderDays), settings.Options{Now: o.Now, Logger: logger,
		// The recharge tiers live in the ledger's tier table too: a change
		// is applied there, every pool's cap with it, in the same transaction.
		Apply: func(ctx context.Context, tx pgx.Tx, k settings.Key, next settings.Values, actor backoffice.Actor) error {
			if k != settings.KeyAccessTiers {
				return nil
			}
			_, err := a.Ledger.SetTiersTx(ctx, tx, next.AccessTiers, "staff:"+strconv.FormatInt(actor.User.ID, 10))
			return err
		}})
	if _, err = a.Settings.Load(ctx); err != nil {
		return nil, err
	}
	current := a.Settings.Current

	a.Ledger = ledger.New(pages, ledger.Options{Now: o.Now, ExpiredReservations: cfg.Gateway.ExpiredPolicy,
		DefaultTTL: cfg.Gateway.ReservationTTL, Grace: cfg.Grace, TrialCap: cfg.Gateway.TrialCap,
		CurrentTrialCap:    func() decimal.Decimal { return current().TrialCap },
		CurrentGrace:       func() ledger.GracePolicy { return current().GracePolicy() },
		CurrentEnforcement: func() ledger.Enforcement { return current().EnforcementMode() }, Reader: a.Reader})
	a.closers = append(a.closers, a.Ledger.Close)
	sealer, index, err := piicrypto.FromSettings(cfg.PII.Keys, cfg.PII.ActiveKey, cfg.PII.IndexKey, production)
	if err != nil {
		return nil, err
	}
	// The PII sealer also keeps staff TOTP secrets.
	aopts := auth.Options{Now: o.Now, Sealer: sealer, SkipTwoFactor: o.SkipTwoFactor, Reader: a.Reader}
	if o.Argon2 != nil {
		aopts.Argon2 = *o.Argon2
	}
	a.Auth = auth.New(pages, aopts)
	// Referrals: an invitee's first paid top-up once verified rewards its
	// inviter (payments' TopUpPaid, below).
	a.Referrals = referral.New(pages, a.Ledger, referral.Identities{Verified: verification.VerifiedIdentityTx,
		All: verification.IdentitiesTx}, referral.Options{Now: o.Now, Logger: logger,
		Current: func() referral.Reward { return current().Referral }})
	a.Signup = &signup.Service{Pool: pages, Auth: a.Auth, Ledger: a.Ledger, Settings: cfg.Signup, Referrals: a.Referrals, Now: o.Now}
	a.Usage = usage.New(pages)
	a.Usage.Reader = a.Reader
	a.Pricing = pricing.New(pages)
	a.Costs = costs.New(pages)
	a.Plans = plans.New(pages, plans.Options{Now: o.Now})
	a.Products = products.New(pages, products.Options{Now: o.Now}) // webhooks set once built
	// Subscriptions tell the account about renewals, grace and expiry by
	// webhook and mail (the notifier is built once the webhooks are).
	var notifier *plans.Notifier
	a.Subscriptions = plans.NewSubscriptions(pages, a.Ledger, plans.Options{Now: o.Now, CreditPriceRMB: cfg.CreditPriceRMB, Reader: a.Reader,
		RenewalTerms: func() plans.RenewalTerms { return current().RenewalTerms() },
		Notify: func(ctx context.Context, tx pgx.Tx, n plans.Notice) error {
			return notifier.Notify(ctx, tx, n)
		}})
	if a.Mail = o.Mail; a.Mail == nil {
		if a.Mail, err = mail.New(cfg.SMTP, filepath.Join(cfg.Database.DataDir, "mail"), logger); err != nil {
			return nil, err
		}
	}

	// Services built before the River client enqueue through it (late).
	late := &lateInserter{}

	// Real-name verification: the sandbox provider unless VERIFY_ENDPOINT
	// is set (production requires it: config).
	var provider identity.Provider = identity.Sandbox{}
	if cfg.VerifyProvider.Endpoint != "" {
		if provider, err = identity.NewHTTPProvider(cfg.VerifyProvider); err != nil {
			return nil, fmt.Errorf("VERIFY_ENDPOINT: %w", err)
		}
	}
	vopts := cfg.Verification
	vopts.Now = o.Now
	a.Verification = verification.New(pages, provider, sealer, index, a.Ledger, vopts)

	// Payments, and invoicing over the paid top-ups; a refund of an invoiced
	// top-up waits for its red-letter reversal.
	var chans payments.Channels
	if o.Channels != nil {
		chans = *o.Channels
	} else {
		var sandbox *payments.Sandbox
		if cfg.PaymentSandbox {
			sandbox = &payments.Sandbox{URL: cfg.Paysim.PublicURL, KeyDir: cfg.Paysim.KeyDir}
		}
		if chans, err = payments.BuildChannels(cfg.WeChatPay, cfg.Alipay, cfg.BaseURL, sandbox); err != nil {
			return nil, err
		}
	}
	popts := cfg.Payments
	popts.Now, popts.Logger = o.Now, logger
	popts.Current = func() payments.Products { return current().Products() }
	popts.BeforeRefund = func(ctx context.Context, tx pgx.Tx, order payments.Order, amountFen int64) error {
		if order.Purpose != payments.PurposeTopUp {
			amountFen = 0 // invoices are capped by the paid top-ups only
		}
		return a.Invoicing.CheckRefundTx(ctx, tx, order.AccountID, order.ID, amountFen)
	}
	popts.TopUpPaid = func(ctx context.Context, tx pgx.Tx, o payments.Order) error {
		_, err := a.Referrals.RewardTx(ctx, tx, referral.TopUp{AccountID: o.AccountID, OrderNo: o.OrderNo,
			Credits: o.Credits, PaidFen: *o.PaidFen})
		return err
	}
	popts.TopUpRefunded = func(ctx context.Context, tx pgx.Tx, o payments.Order, refundNo string, rc payments.RefundedCredits) error {
		_, err := a.Referrals.ReclaimTx(ctx, tx, referral.Refunded{AccountID: o.AccountID, OrderNo: o.OrderNo,
			RefundNo: refundNo, Paid: rc.Paid, Before: rc.Before, After: rc.After})
		return err
	}
	popts.OnRefunded = func(ctx context.Context, refundNo string) error {
		return a.Backoffice.MarkRefundDoneByRef(ctx, refundNo)
	}
	// Plan, renewal and upgrade orders are priced and applied by the
	// subscriptions (payments.Options.UsePlans; the package's tests wire the same).
	popts.UsePlans(a.Subscriptions)
	// A product order is priced by the catalogue's latest version and, once
	// paid, delivers its entitlement in the payment's transaction; its
	// refund revokes it in the refund's.
	popts.ProductOffer = func(ctx context.Context, _ int64, code string) (payments.ProductOffer, error) {
		p, err := a.Products.Latest(ctx, code)
		if err != nil {
			return payments.ProductOffer{}, err
		}
		return payments.ProductOffer{Code: p.Code, Version: p.Version, PriceFen: p.PriceFen, Credits: p.Credits,
			CreditDays: p.CreditDays, RefundDays: p.RefundDays}, nil
	}
	popts.ProductPaid = func(ctx context.Context, tx pgx.Tx, o payments.Order) error {
		_, err := a.Products.GrantTx(ctx, tx, products.GrantRequest{AccountID: o.AccountID, ProductCode: o.ProductCode,
			ProductVersion: o.ProductVersion, OrderNo: o.OrderNo, PaidAt: *o.PaidAt, LotID: o.PaidLotID})
		return err
	}
	popts.ProductRefunded = func(ctx context.Context, tx pgx.Tx, o payments.Order, refundNo string) error {
		_, err := a.Products.RevokeTx(ctx, tx, o.OrderNo, "refund:"+refundNo)
		return err
	}
	// A bill order pays a credit line's bill for exactly its amount and,
	// once paid, pays the bill in the payment's transaction (a.CreditLines
	// is built below; these run only once serving).
	popts.BillOffer = func(ctx context.Context, accountID, billID int64) (payments.BillOffer, error) {
		b, err := a.CreditLines.Bill(ctx, accountID, billID)
		if err != nil {
			return payments.BillOffer{}, err
		}
		if !b.Unpaid() {
			return payments.BillOffer{}, fmt.Errorf("%w: %w", payments.ErrBillSettled, creditline.ErrBillPaid)
		}
		return payments.BillOffer{BillID: b.ID, AmountFen: b.AmountFen}, nil
	}
	popts.BillPaid = func(ctx context.Context, tx pgx.Tx, o payments.Order) error {
		_, err := a.CreditLines.PayTx(ctx, tx, creditline.Payment{BillID: o.BillID, Via: creditline.PaidByQR, Ref: o.OrderNo,
			Actor: "payments:" + string(o.Channel)})
		if errors.Is(err, creditline.ErrBillPaid) {
			return fmt.Errorf("%w: %w", payments.ErrBillSettled, err)
		}
		return err
	}
	// A bill order's receipt names the bill: its period and reference code.
	popts.BillLabel = func(ctx context.Context, accountID, billID int64) (string, error) {
		b, err := a.CreditLines.Bill(ctx, accountID, billID)
		if err != nil {
			return "", err
		}
		return format.Date(b.PeriodStart) + " 至 " + format.Date(b.PeriodEnd.AddDate(0, 0, -1)) + " " + refcode.Format(b.ReferenceCode), nil
	}
	a.Payments = payments.New(pages, a.Ledger, chans, popts)
	iopts := cfg.Invoicing
	iopts.Now = o.Now
	// An issued invoice's PDF is emailed to the customer: the mail job is
	// enqueued inside the issuing transaction.
	iopts.OnIssued = invoicing.IssuedMail(late, a.I18n)
	// Invoicing by consumption values a month as the revenue report does
	// (a.Backoffice is built below; it is only called once serving).
	iopts.ConsumedFen = func(ctx context.Context, accountID int64, from, to time.Time) (map[string]int64, error) {
		return a.Backoffice.PaidConsumedByMonth(ctx, accountID, from, to)
	}
	// A paid credit line bill is invoiceable, and paid money under the
	// invoicing cap (a.CreditLines is built below; only called once serving).
	iopts.PaidBills = func(ctx context.Context, q db.DBTX, accountID int64) ([]invoicing.PaidBill, error) {
		bills, err := a.CreditLines.PaidBills(ctx, q, accountID)
		out := make([]invoicing.PaidBill, len(bills))
		for i, b := range bills {
			out[i] = invoicing.PaidBill{ID: b.ID, ReferenceCode: b.ReferenceCode, PeriodStart: b.PeriodStart, PeriodEnd: b.PeriodEnd,
				AmountFen: b.AmountFen, PaidAt: *b.PaidAt}
		}
		return out, err
	}
	a.Invoicing = invoicing.New(pages, a.Payments.Invoicing(), iopts)

	a.Webhooks = webhook.NewService(pages, late, webhook.Options{RequireHTTPS: production})
	notifier = &plans.Notifier{Webhooks: a.Webhooks, Jobs: late, I18n: a.I18n}
	a.Products.SetWebhooks(a.Webhooks)

	// Auto top-up by agreement payments, with the channels' limits.
	at := cfg.AutoTopUp
	if a.AutoTopUp, err = autotopup.New(pages, a.Payments, late, a.Webhooks, autotopup.Options{
		Limits: map[payments.Channel]autotopup.Limits{
			payments.ChannelWeChat: {PerDebitFen: at.WeChatPerDebitFen, DailyFen: at.WeChatDailyFen},
			payments.ChannelAlipay: {PerDebitFen: at.AlipayPerDebitFen, DailyFen: at.AlipayDailyFen},
		},
		Renewals:    a.Subscriptions,
		MaxAttempts: at.MaxAttempts, Backoff: autotopup.BackoffFrom(at.RetryBase), PortalURL: cfg.BaseURL + "/portal/auto-topup", Now: o.Now, Logger: logger, I18n: a.I18n,
	}); err != nil {
		return nil, err
	}

	// The gateway API, with the rate limiter (Redis when REDIS_URL is set).
	limiter := o.Limiter
	if limiter == nil {
		var closeLimiter func() error
		if limiter, closeLimiter, err = ratelimit.Open(ctx, cfg.RedisURL, logger); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() { _ = closeLimiter() })
	}
	a.Quotas = plans.NewQuotas(pool, plans.QuotaOptions{Now: o.Now, Webhooks: a.Webhooks, Writer: a.Ledger, Reader: a.Reader})
	listenCtx, stopListening := context.WithCancel(context.Background())
	go a.Quotas.Listen(listenCtx)
	a.closers = append(a.closers, stopListening)
	a.Gateway, err = gateway.New(gateway.Deps{Pool: pages, Ledger: a.Ledger, Pricing: a.Pricing, Costs: a.Costs, Limiter: limiter,
		Verifier: verifierAdapter{a.Verification}, Portal: a.Auth, Webhooks: a.Webhooks, Quotas: a.Quotas,
		Subscriptions: a.Subscriptions, Entitlements: a.Products, Models: access.NewStore(pages)},
		gateway.Options{Now: o.Now, Secret: []byte(cfg.SessionSecret), ReservationTTL: cfg.Gateway.ReservationTTL,
			LateEventWindow: cfg.Gateway.LateEventWindow, PortalBaseURL: cfg.BaseURL, CacheTTL: o.KeyCacheTTL,
			DefaultLimit: cfg.Gateway.DefaultLimit, TrialLimit: cfg.Gateway.TrialLimit})
	if err != nil {
		return nil, err
	}

	// Usage through NATS JetStream: the API queues events, Start runs the
	// consumer that charges them through the gateway's rules.
	if cfg.NATS.URL != "" {
		if a.UsageStream, err = usagestream.Open(ctx, a.Gateway, usagestream.Options{URL: cfg.NATS.URL,
			Prefix: cfg.NATS.Prefix, Now: o.Now, Logger: logger}); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, a.UsageStream.Close)
	}

	// The OpenAI-compatible gateway's keys and upstreams (`credits gateway`
	// serves the calls; the portal and back office manage these).
	ropts := a.relayOptions(o)
	a.RelayKeys = relay.NewKeys(pages, a.Ledger, func(ctx context.Context) ([]string, error) {
		c, err := a.Pricing.InForce(ctx, ropts.Now())
		if err != nil {
			return nil, err
		}
		names := make([]string, len(c.Models))
		for i, m := range c.Models {
			names[i] = m.Model
		}
		return names, nil
	}, ropts)
	a.RelayUpstreams = relay.NewUpstreams(pages, sealer, ropts)
	// Model allow-lists: a change drops the gateway's cached account here
	// (other processes read it again within the gateway's cache TTL).
	a.Access = access.New(pages, a.Ledger, access.Options{Now: o.Now, OnChange: a.Gateway.Forget,
		Models: func(ctx context.Context) ([]string, error) {
			c, err := a.Pricing.InForce(ctx, ropts.Now())
			if err != nil {
				return nil, err
			}
			names := make([]string, len(c.Models))
			for i, m := range c.Models {
				names[i] = m.Model
			}
			return names, nil
		}})

	// The back office, after the gateway: it creates and revokes service
	// keys through the store the API authenticates with, so a revoked key
	// is refused at once by this process.
	pay := a.Payments.BackOffice()
	// Statement matching requires a transfer for an account verified as a
	// company to come from that company.
	pay.VerifiedPayer = func(ctx context.Context, accountID int64) (string, error) {
		name, _, err := a.Verification.VerifiedCompanyName(ctx, accountID)
		return name, err
	}
	// Postpaid credit lines and their bills (internal/creditline).
	a.CreditLines = creditline.New(pages, a.Ledger, creditline.Options{Now: o.Now, CreditPriceRMB: cfg.CreditPriceRMB,
		Notify: &creditline.MailAndWebhook{Jobs: late, Webhooks: a.Webhooks, I18n: a.I18n, Recipients: a.billingContacts,
			PortalURL: cfg.BaseURL + "/portal/bills"}})
	a.Backoffice = backoffice.New(pages, a.Ledger, a.Auth, backoffice.Options{Now: o.Now, Settings: cfg.Backoffice, CreditLines: a.CreditLines,
		Current:        func() backoffice.Settings { return current().Backoffice(cfg.Backoffice) },
		CreditPriceRMB: cfg.CreditPriceRMB, TransferOrders: pay, Orders: pay, ChannelOrders: pay, Refunder: pay,
		Identities: a.Verification.BackOffice(), Keys: a.Gateway.Keys.BackOffice(), Plans: a.Subscriptions, PlanStats: a.Subscriptions,
		PlanFees: planFees(pay, a.Subscriptions, a.Products), Webhooks: a.Webhooks,
		Pricing: a.Pricing, Costs: a.Costs, OnPriceChange: a.Gateway.Forget, Reader: a.Reader})
	a.Journal = journal.New(pages, a.Backoffice, journal.Options{CreditLines: a.CreditLines, PlanFees: planFees(pay, a.Subscriptions, a.Products),
		Accounts: func() journal.Accounts { return current().Journal() }})

	// Background jobs: mail, webhooks, alerts, the ledger's sweeps, the
	// payments sync (lost notifies, expired orders, refunds at the channel).
	workers := river.NewWorkers()
	river.AddWorker(workers, mail.NewSendWorker(a.Mail))
	river.AddWorker(workers, webhook.NewDeliverer(pool, webhook.DelivererOptions{Logger: logger, AllowPrivateNetworks: !production}))
	alerts, err := gateway.NewAlerts(pages, late, a.Webhooks, gateway.AlertOptions{ReminderDays: cfg.Gateway.ReminderDays,
		CurrentReminderDays: func() int { return current().ReminderDays }})
	if err != nil {
		return nil, err
	}
	gateway.AddWorkers(workers, alerts, a.Ledger)
	river.AddWorker(workers, payments.NewSyncWorker(a.Payments))
	river.AddWorker(workers, plans.NewGrantWorker(a.Subscriptions))
	river.AddWorker(workers, &plans.QuotaSweepWorker{Quotas: a.Quotas})
	a.Budgets = budget.New(pages, a.Ledger, late, a.Webhooks, a.I18n, budget.Options{Now: o.Now,
		CreditPrice: func() decimal.Decimal { return cfg.CreditPriceRMB }, PortalURL: cfg.BaseURL + "/portal/budgets"})
	river.AddWorker(workers, &budget.NotifyWorker{Budgets: a.Budgets})
	a.RelayKeys.SetBudgets(a.Budgets) // a key may be created with its monthly budget
	a.Team = team.New(pages, team.Options{Jobs: late, I18n: a.I18n, Now: o.Now, Reader: a.Reader,
		Link: func(token string) string { return cfg.BaseURL + "/team/accept/" + token }})
	periodic := append(gateway.PeriodicJobs(0), payments.PeriodicJobs()...)
	periodic = append(periodic, plans.PeriodicJobs()...)
	periodic = append(periodic, plans.QuotaPeriodicJobs()...)
	autotopup.AddWorkers(workers, a.AutoTopUp)
	scanEvery := time.Duration(0)
	if o.FastJobs {
		scanEvery = time.Second
	}
	periodic = append(periodic, autotopup.PeriodicJobs(scanEvery)...)
	periodic = append(periodic, budget.PeriodicJobs(scanEvery)...)
	// Run-out alerts: hourly, at most one per account and Shanghai day.
	a.Forecast = forecast.New(pages, a.Ledger, a.Usage, a.Webhooks, late, a.I18n, forecast.Options{Now: o.Now,
		Threshold: func() int { return current().RunwayDays }, PortalURL: cfg.BaseURL + "/portal/topup"})
	river.AddWorker(workers, &forecast.ScanWorker{Forecast: a.Forecast})
	periodic = append(periodic, forecast.PeriodicJobs(0)...)
	// Negative-margin alerts: daily, once per model and Shanghai day, to
	// the finance staff (internal/costs).
	river.AddWorker(workers, &costs.MarginAlertWorker{Alerter: &costs.Alerter{Pool: pool, Costs: a.Costs, Jobs: late,
		I18n: a.I18n, CreditPrice: func() decimal.Decimal { return cfg.CreditPriceRMB }, Now: o.Now,
		ReportURL: cfg.BaseURL + "/admin/margins?view=model", Recipients: a.financeStaff}})
	periodic = append(periodic, costs.PeriodicJobs()...)
	// Monthly statements: mailed with PDF and XLSX to each account's billing
	// contacts, once per account and month (internal/statement).
	river.AddWorker(workers, &statement.MailWorker{Mailer: &statement.Mailer{Service: &statement.Service{Pool: pages, Ledger: a.Ledger, CreditLines: a.CreditLines},
		Pool: pool, Jobs: late, I18n: a.I18n, Recipients: a.billingContacts, PortalURL: cfg.BaseURL + "/portal/statements"}})
	periodic = append(periodic, statement.PeriodicJobs()...)
	// Credit line bills: closed on the billing day, moved along their states.
	river.AddWorker(workers, &creditline.BillingWorker{Service: a.CreditLines})
	periodic = append(periodic, creditline.PeriodicJobs()...)
	// The operator dashboard's daily roll-ups (internal/backoffice analytics.go).
	river.AddWorker(workers, &backoffice.AnalyticsRollupWorker{Backoffice: a.Backoffice})
	periodic = append(periodic, backoffice.AnalyticsPeriodicJobs(0)...)
	jopts := jobs.Options{Logger: logger, Periodic: periodic}
	if o.FastJobs {
		jopts.TestOnly, jopts.FetchPollInterval = true, 20*time.Millisecond
	}
	if a.Jobs, err = jobs.New(pool, workers, jopts); err != nil {
		return nil, err
	}
	late.Inserter = a.Jobs

	// What another process changes reaches this one's caches at once
	// (internal/platform/invalidate); the sessions' handler is the web
	// server's (WebDeps).
	a.Invalidation = invalidate.New(pool, invalidate.Options{Logger: logger})
	if cfg.RedisURL != "" {
		// The relay for words the database cannot take (a sign-out
		// during a failover), one channel per database.
		ropts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("app: REDIS_URL is not a valid redis:// URL: %w", err)
		}
		// A sign-out waits for its announcement: a Redis that does not
		// answer must cost it a second, not go-redis's retried 3 s reads.
		ropts.DialTimeout, ropts.ReadTimeout, ropts.WriteTimeout = time.Second, time.Second, time.Second
		ropts.MaxRetries = -1
		// A session read from the database is checked there for a
		// sign-out recorded during a failover, under its own short
		// deadline (web.SessionCache).
		ropts.ContextTimeoutEnabled = true
		relay := redis.NewClient(ropts)
		a.closers = append(a.closers, func() { _ = relay.Close() })
		a.Invalidation.Relay(relay, invalidate.Channel+":"+pool.Config().ConnConfig.Database)
	}
	// An empty key: words may have been missed, forget every key.
	a.Invalidation.On(invalidate.RelayKey, func(key string) {
		if id, err := strconv.ParseInt(key, 10, 64); err == nil {
			a.RelayKeys.Forget(id)
		} else {
			a.RelayKeys.ForgetAll()
		}
	})
	a.Invalidation.On(invalidate.ServiceKey, func(key string) {
		if id, err := strconv.ParseInt(key, 10, 64); err == nil {
			a.Gateway.Keys.Forget(id)
		} else {
			a.Gateway.Keys.ForgetAll()
		}
	})
	a.Invalidation.On(invalidate.Settings, func(string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Settings.Reload(ctx)
	})
	a.Invalidation.On(invalidate.Account, func(key string) {
		if id, err := strconv.ParseInt(key, 10, 64); err == nil {
			a.Gateway.Forget(id)
		} else {
			a.Gateway.ForgetAll()
		}
	})
	a.Invalidation.On(invalidate.Tiers, func(string) { a.Gateway.ForgetTiers() })
	a.Invalidation.On(invalidate.RateCard, func(string) { a.Pricing.Forget() })
	a.Invalidation.On(invalidate.CostCard, func(string) { a.Costs.Forget() })
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); a.Invalidation.Run(hubCtx) }()
	a.closers = append(a.closers, func() { stopHub(); <-hubDone })
	return a, nil
}

// financeStaff are the addresses of the enabled finance staff.
func (a *App) financeStaff(ctx context.Context) ([]string, error) {
	staff, err := a.Auth.ListStaff(ctx)
	if err != nil {
		return nil, err
	}
	var to []string
	for _, u := range staff {
		if !u.Disabled && auth.HasAnyRole(u, auth.RoleFinance) {
			to = append(to, u.Email)
		}
	}
	return to, nil
}

// billingContacts are the addresses an account's statements go to: its own
// user, and an enterprise's owners and finance members (enabled, with an
// email), each once.
func (a *App) billingContacts(ctx context.Context, accountID int64) ([]string, error) {
	var to []string
	seen := map[string]bool{}
	add := func(email string) {
		if email != "" && !seen[strings.ToLower(email)] {
			seen[strings.ToLower(email)] = true
			to = append(to, email)
		}
	}
	u, err := a.Auth.UserByAccountID(ctx, accountID)
	switch {
	case err == nil && !u.Disabled:
		add(u.Email)
	case err != nil && !errors.Is(err, auth.ErrNotFound):
		return nil, err
	}
	members, err := a.Team.Members(ctx, accountID)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		if m.Role == team.RoleOwner || m.Role == team.RoleFinance {
			add(m.Email)
		}
	}
	return to, nil
}

// WebDeps hands the services to the web server.
func (a *App) WebDeps() web.Deps {
	return web.Deps{Config: a.Config, Pool: a.Pool, Logger: a.Logger, I18n: a.I18n,
		Ledger: a.Ledger, Auth: a.Auth, Signup: a.Signup, Referrals: a.Referrals, Usage: a.Usage, ViewCache: a.viewCache,
		Gateway: a.Gateway, Payments: a.Payments, Backoffice: a.Backoffice,
		Verification: a.Verification, Invoicing: a.Invoicing, Webhooks: a.Webhooks, Jobs: a.Jobs, Settings: a.Settings,
		Plans: a.Plans, Subscriptions: a.Subscriptions, Quotas: a.Quotas, Products: a.Products, AutoTopUp: a.AutoTopUp,
		Budgets: a.Budgets, Access: a.Access, RelayKeys: a.RelayKeys, RelayUpstreams: a.RelayUpstreams,
		Team: a.Team, UsageStream: a.UsageStream, Journal: a.Journal, Invalidation: a.Invalidation,
		CreditLines: a.CreditLines, Reader: a.Reader}
}

func (a *App) relayOptions(o Overrides) relay.Options {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return relay.Options{Now: now, Reader: a.Reader, KeyCacheTTL: a.Config.Relay.KeyCacheTTL, DefaultMaxOutput: a.Config.Relay.DefaultMaxOutput,
		NoSpeculation: !a.Config.Relay.Speculate}
}

// NewRelay builds the OpenAI-compatible gateway over the services (it
// loads the tokenizer, so only `credits gateway` and its tests call it);
// observe, when not nil, is told of each stream's time inside the gateway.
func (a *App) NewRelay(observe func(relay.Overhead)) (*relay.Relay, error) {
	counter, err := relay.NewCounter()
	if err != nil {
		return nil, err
	}
	opts := a.relayOptions(a.overrides)
	opts.Observe = observe
	return relay.New(relay.Deps{Gateway: a.Gateway, Pricing: a.Pricing, Keys: a.RelayKeys, Upstreams: a.RelayUpstreams,
		Counter: counter, Logger: a.Logger}, opts)
}

// Start works the background jobs, and with NATS_URL the usage stream's
// consumer, until the returned stop is called (it lets the consumer finish
// the batch it is charging).
func (a *App) Start(ctx context.Context) (stop func(), err error) {
	if err := a.Jobs.Start(ctx); err != nil {
		return nil, fmt.Errorf("background jobs: %w", err)
	}
	stopUsage := func() {}
	if a.UsageStream != nil {
		uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { defer close(done); _ = a.UsageStream.Run(uctx) }()
		stopUsage = func() { cancel(); <-done }
	}
	return func() {
		stopUsage()
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Jobs.Stop(stopCtx)
	}, nil
}

// Close stops what the services hold, newest first.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// verifierAdapter lets the gateway's verification gate use the
// verification service.
type verifierAdapter struct{ v *verification.Service }

func (a verifierAdapter) IsVerified(ctx context.Context, accountID int64) (bool, error) {
	return a.v.IsVerified(ctx, accountID)
}

func (a verifierAdapter) MarkVerifiedExternally(ctx context.Context, accountID int64, reference, actor string) error {
	_, err := a.v.MarkVerifiedExternally(ctx, accountID, reference, actor)
	return err
}

// lateInserter lets services built before the River client enqueue through it.
type lateInserter struct{ jobs.Inserter }

// planFees gives the revenue report each paid plan order with the period
// it paid for: payments knows the money, plans the periods. An order plans
// does not know (never applied) is recognised over one cycle from its
// payment; a new plan's first period is one cycle from its anchor.
// planFees gives the revenue report the fees earned over a term: plan
// orders over their period (plans), and one-time products that deliver no
// credits over their entitlement's term, or when delivered if it does not
// end (products).
func planFees(pay *payments.BackOffice, subs *plans.Subscriptions, prods *products.Service) backoffice.PlanFees {
	return func(ctx context.Context, before time.Time) ([]backoffice.PlanFee, error) {
		fees, err := pay.PlanFees(ctx, before)
		if err != nil {
			return nil, err
		}
		nos := make([]string, len(fees))
		for i, f := range fees {
			nos[i] = f.OrderNo
		}
		periods, err := subs.FeePeriods(ctx, nos)
		if err != nil {
			return nil, err
		}
		terms, err := prods.FeeTerms(ctx, nos)
		if err != nil {
			return nil, err
		}
		for i, f := range fees {
			if f.Purpose == string(payments.PurposeProduct) {
				term, ok := terms[f.OrderNo]
				fees[i].Start, fees[i].End = f.PaidAt, f.PaidAt
				if ok && term.Until != nil {
					fees[i].Start, fees[i].End = term.Since, *term.Until
				}
				continue
			}
			p, ok := periods[f.OrderNo]
			switch {
			case !ok:
				p = plans.FirstPeriod(f.PaidAt, plans.Cycle(f.Cycle))
			case p.End.IsZero():
				p = plans.FirstPeriod(p.Start, plans.Cycle(f.Cycle))
			}
			fees[i].Start, fees[i].End = p.Start, p.End
		}
		return fees, nil
	}
}
