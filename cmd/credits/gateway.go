package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/ratelimit"
	"github.com/seed75218f88/credits/internal/webhook"
)

// gatewaySettings are the gateway API's environment variables:
// TRIAL_CREDIT_CAP (credits, default 10000), RESERVATION_TTL (5m),
// RESERVATION_EXPIRED_POLICY (release|charge, default release),
// LATE_EVENT_WINDOW (168h), EXPIRY_REMINDER_DAYS (7).
type gatewaySettings struct {
	trialCap     decimal.Decimal
	ttl          time.Duration
	policy       ledger.ExpiredReservationPolicy
	lateWindow   time.Duration
	reminderDays int
}

func gatewaySettingsFromEnv() (gatewaySettings, error) {
	s := gatewaySettings{trialCap: gateway.DefaultTrialCreditCap, ttl: 5 * time.Minute, policy: ledger.ExpiredRelease,
		lateWindow: 7 * 24 * time.Hour, reminderDays: 7}
	var err error
	if v := os.Getenv("TRIAL_CREDIT_CAP"); v != "" {
		if s.trialCap, err = decimal.NewFromString(v); err != nil || !s.trialCap.IsPositive() {
			return s, fmt.Errorf("TRIAL_CREDIT_CAP must be a positive number of credits such as 10000")
		}
	}
	for name, d := range map[string]*time.Duration{"RESERVATION_TTL": &s.ttl, "LATE_EVENT_WINDOW": &s.lateWindow} {
		if v := os.Getenv(name); v != "" {
			if *d, err = time.ParseDuration(v); err != nil || *d <= 0 {
				return s, fmt.Errorf("%s must be a positive duration such as 5m or 168h", name)
			}
		}
	}
	if v := os.Getenv("RESERVATION_EXPIRED_POLICY"); v != "" {
		s.policy = ledger.ExpiredReservationPolicy(v)
		if s.policy != ledger.ExpiredRelease && s.policy != ledger.ExpiredCharge {
			return s, fmt.Errorf("RESERVATION_EXPIRED_POLICY must be release or charge")
		}
	}
	if v := os.Getenv("EXPIRY_REMINDER_DAYS"); v != "" {
		if s.reminderDays, err = strconv.Atoi(v); err != nil || s.reminderDays <= 0 {
			return s, fmt.Errorf("EXPIRY_REMINDER_DAYS must be a positive whole number of days")
		}
	}
	return s, nil
}

// apiStack is what `serve` builds for the gateway API: the ledger, the
// gateway service and the River client working mail, webhooks, alerts and
// the ledger's sweeps.
type apiStack struct {
	ledger  *ledger.Ledger
	gateway *gateway.Service
	river   *jobs.Client
	closers []func() error
}

func (a *apiStack) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		_ = a.closers[i]()
	}
}

func newAPIStack(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, logger *slog.Logger) (*apiStack, error) {
	set, err := gatewaySettingsFromEnv()
	if err != nil {
		return nil, err
	}
	st := &apiStack{}
	st.ledger = ledger.New(pool, ledger.Options{ExpiredReservations: set.policy, DefaultTTL: set.ttl})
	st.closers = append(st.closers, func() error { st.ledger.Close(); return nil })
	limiter, closeLimiter, err := ratelimit.Open(ctx, cfg.RedisURL)
	if err != nil {
		st.Close()
		return nil, err
	}
	st.closers = append(st.closers, closeLimiter)
	st.gateway, err = gateway.New(gateway.Deps{Pool: pool, Ledger: st.ledger, Pricing: pricing.New(pool), Limiter: limiter,
		Portal: auth.New(pool, auth.Options{})}, gateway.Options{Secret: []byte(cfg.SessionSecret),
		ReservationTTL: set.ttl, LateEventWindow: set.lateWindow, TrialCreditCap: set.trialCap, PortalBaseURL: cfg.BaseURL})
	if err != nil {
		st.Close()
		return nil, err
	}
	sender, _, err := mail.FromEnv("", logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, mail.NewSendWorker(sender))
	river.AddWorker(workers, webhook.NewDeliverer(pool, webhook.DelivererOptions{Logger: logger,
		AllowPrivateNetworks: cfg.Env != config.Production}))
	// The alert scanner enqueues through the client it runs in: build the
	// client with a late-bound inserter.
	ins := &lateInserter{}
	alerts, err := gateway.NewAlerts(pool, ins, webhook.NewService(pool, ins, webhook.Options{RequireHTTPS: cfg.Env == config.Production}),
		gateway.AlertOptions{ReminderDays: set.reminderDays})
	if err != nil {
		st.Close()
		return nil, err
	}
	gateway.AddWorkers(workers, alerts, st.ledger)
	st.river, err = jobs.New(pool, workers, jobs.Options{Logger: logger, Periodic: gateway.PeriodicJobs(0)})
	if err != nil {
		st.Close()
		return nil, err
	}
	ins.Inserter = st.river
	return st, nil
}

// lateInserter lets the alert scanner, built before the River client, use it.
type lateInserter struct{ jobs.Inserter }
