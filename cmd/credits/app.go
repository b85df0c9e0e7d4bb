package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/ratelimit"
	usagerm "github.com/seed75218f88/credits/internal/usage"
	"github.com/seed75218f88/credits/internal/verification"
	"github.com/seed75218f88/credits/internal/webhook"
	"github.com/seed75218f88/credits/web"
)

// services is every domain service one `serve` process runs, each built
// once from the settings (one ledger per process: it serialises writes per
// account in-process), and the River client working their background jobs.
type services struct {
	ledger       *ledger.Ledger
	auth         *auth.Service
	usage        *usagerm.Store
	mail         mail.Sender
	gateway      *gateway.Service
	payments     *payments.Service
	backoffice   *backoffice.Service
	verification *verification.Service
	invoicing    *invoicing.Service
	webhooks     *webhook.Service
	portal       web.PortalSettings
	river        *jobs.Client

	closers []func() error
}

// Close stops what the services hold, newest first.
func (s *services) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i]()
	}
}

// deps hands the services to the web server.
func (s *services) deps(cfg config.Config, pool *pgxpool.Pool, logger *slog.Logger) web.Deps {
	return web.Deps{Config: cfg, Pool: pool, Logger: logger,
		Ledger: s.ledger, Auth: s.auth, Usage: s.usage, Portal: s.portal,
		Gateway: s.gateway, Payments: s.payments, Backoffice: s.backoffice,
		Verification: s.verification, Invoicing: s.invoicing, Webhooks: s.webhooks, Jobs: s.river}
}

// buildServices reads every area's settings and builds the services; a bad
// setting ends here with one line naming it.
func buildServices(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, logger *slog.Logger) (_ *services, err error) {
	s := &services{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	production := cfg.Env == config.Production
	getenv := os.Getenv

	gw, err := gatewaySettingsFromEnv()
	if err != nil {
		return nil, err
	}
	if s.portal, err = web.PortalSettingsFromEnv(); err != nil {
		return nil, err
	}
	grace, err := ledger.GraceFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	s.ledger = ledger.New(pool, ledger.Options{ExpiredReservations: gw.policy, DefaultTTL: gw.ttl, Grace: grace, TrialCap: gw.trialCap})
	s.closers = append(s.closers, func() error { s.ledger.Close(); return nil })
	s.usage = usagerm.New(pool)
	if s.mail, _, err = mail.FromEnv("", logger); err != nil {
		return nil, err
	}

	// Real-name verification: the sandbox provider in dev, the HTTP
	// provider when VERIFY_ENDPOINT is set; production refuses the sandbox.
	sealer, index, err := piicrypto.FromSettings(cfg.PII.Keys, cfg.PII.ActiveKey, cfg.PII.IndexKey, production)
	if err != nil {
		return nil, err
	}
	s.auth = auth.New(pool, auth.Options{Sealer: sealer}) // the sealer also keeps staff TOTP secrets
	provider, err := verificationProvider(getenv, production)
	if err != nil {
		return nil, err
	}
	vopts, err := verification.OptionsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	s.verification = verification.New(pool, provider, sealer, index, s.ledger, vopts)

	// Payments, and invoicing over the paid top-ups; a refund of an invoiced
	// top-up waits for its red-letter reversal.
	popts, err := payments.OptionsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	// Development shows a clearly fake receiving account when BANK_* is
	// unset; production offers bank transfer only once it is configured.
	if !production && !popts.BankAccount.Configured() {
		popts.BankAccount = payments.DemoBankAccount
	}
	chans, err := payments.ChannelsFromEnv(getenv, cfg.BaseURL, cfg.PaymentSandbox)
	if err != nil {
		return nil, err
	}
	iopts, err := invoicing.OptionsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	// An issued invoice's PDF is emailed to the customer: the mail job is
	// enqueued inside the issuing transaction (through the River client,
	// built below).
	ins := &lateInserter{}
	bundle, err := i18n.Default()
	if err != nil {
		return nil, err
	}
	iopts.OnIssued = invoicing.IssuedMail(ins, bundle)
	popts.BeforeRefund = func(ctx context.Context, tx pgx.Tx, o payments.Order) error {
		return invoicing.CheckRefundTx(ctx, tx, o.AccountID, o.ID)
	}
	popts.OnRefunded = func(ctx context.Context, refundNo string) error {
		return s.backoffice.MarkRefundDoneByRef(ctx, refundNo)
	}
	popts.Logger = logger
	s.payments = payments.New(pool, s.ledger, chans, popts)
	s.invoicing = invoicing.New(pool, s.payments.Invoicing(), iopts)

	// Webhook endpoints and the alert scanner enqueue through the River
	// client built last (ins).
	s.webhooks = webhook.NewService(pool, ins, webhook.Options{RequireHTTPS: production})

	// Gateway API, with the rate limiter (Redis when REDIS_URL is set).
	limiter, closeLimiter, err := ratelimit.Open(ctx, cfg.RedisURL, logger)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, closeLimiter)
	s.gateway, err = gateway.New(gateway.Deps{Pool: pool, Ledger: s.ledger, Pricing: pricing.New(pool), Limiter: limiter,
		Verifier: verifierAdapter{s.verification}, Portal: s.auth, Webhooks: s.webhooks},
		gateway.Options{Secret: []byte(cfg.SessionSecret), ReservationTTL: gw.ttl, LateEventWindow: gw.lateWindow,
			PortalBaseURL: cfg.BaseURL, DefaultLimit: gw.defaultLimit, TrialLimit: gw.trialLimit})
	if err != nil {
		return nil, err
	}

	// The back office, after the gateway: it creates and revokes service
	// keys through the store the API authenticates with, so a revoked key
	// is refused at once by this process.
	boSettings, err := backoffice.SettingsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	pay := s.payments.BackOffice()
	// Statement matching requires a transfer for an account verified as a
	// company to come from that company.
	pay.VerifiedPayer = func(ctx context.Context, accountID int64) (string, error) {
		name, _, err := s.verification.VerifiedCompanyName(ctx, accountID)
		return name, err
	}
	s.backoffice = backoffice.New(pool, s.ledger, s.auth, backoffice.Options{Settings: boSettings, CreditPriceRMB: cfg.CreditPriceRMB,
		TransferOrders: pay, Orders: pay, ChannelOrders: pay, Refunder: pay, Identities: s.verification.BackOffice(),
		Keys: s.gateway.Keys.BackOffice()})

	// Background jobs: mail, webhooks, alerts, the ledger's sweeps, the
	// payments sync (lost notifies, expired orders). The alert
	// scanner and webhook service enqueue through the client they run in.
	workers := river.NewWorkers()
	river.AddWorker(workers, mail.NewSendWorker(s.mail))
	river.AddWorker(workers, webhook.NewDeliverer(pool, webhook.DelivererOptions{Logger: logger, AllowPrivateNetworks: !production}))
	alerts, err := gateway.NewAlerts(pool, ins, s.webhooks, gateway.AlertOptions{ReminderDays: gw.reminderDays})
	if err != nil {
		return nil, err
	}
	gateway.AddWorkers(workers, alerts, s.ledger)
	river.AddWorker(workers, payments.NewSyncWorker(s.payments))
	periodic := append(gateway.PeriodicJobs(0), payments.PeriodicJobs()...)
	if s.river, err = jobs.New(pool, workers, jobs.Options{Logger: logger, Periodic: periodic}); err != nil {
		return nil, err
	}
	ins.Inserter = s.river
	return s, nil
}

// start runs the background jobs until stop is called.
func (s *services) start(ctx context.Context) (stop func(), err error) {
	if err := s.river.Start(ctx); err != nil {
		return nil, fmt.Errorf("background jobs: %w", err)
	}
	return func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.river.Stop(stopCtx)
	}, nil
}

// verificationProvider picks the real-name verification provider:
// VERIFY_ENDPOINT (with VERIFY_APP_KEY, VERIFY_APP_SECRET) selects the HTTP
// provider; otherwise the deterministic sandbox, which production refuses.
func verificationProvider(getenv func(string) string, production bool) (identity.Provider, error) {
	endpoint := getenv("VERIFY_ENDPOINT")
	if endpoint == "" {
		if production {
			return nil, errors.New("APP_ENV=production needs VERIFY_ENDPOINT, VERIFY_APP_KEY and VERIFY_APP_SECRET: the sandbox verification provider is for development")
		}
		return identity.Sandbox{}, nil
	}
	p, err := identity.NewHTTPProvider(identity.HTTPConfig{Endpoint: endpoint, AppKey: getenv("VERIFY_APP_KEY"), AppSecret: getenv("VERIFY_APP_SECRET")})
	if err != nil {
		return nil, fmt.Errorf("VERIFY_ENDPOINT: %w", err)
	}
	return p, nil
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
