package web

import (
	"log/slog"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/passwordreset"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/internal/usage"
)

// PortalSettings are the portal's settings. The top-up tiers and bonus
// belong to payments (TOPUP_TIERS, TOPUP_BONUS: payments.OptionsFromEnv).
type PortalSettings struct {
	Signup signup.Settings
	// ViewCache is how long pages may reuse what they read from the ledger
	// while its head is unchanged (see viewCache); 0 means
	// DefaultViewCache, negative turns the caches off (for measurements).
	ViewCache time.Duration
}

// PortalSettingsFromEnv reads SIGNUP_CREDIT and SIGNUP_CREDIT_EXPIRY_DAYS.
func PortalSettingsFromEnv() (PortalSettings, error) {
	su, err := signup.SettingsFromEnv()
	if err != nil {
		return PortalSettings{}, err
	}
	return PortalSettings{Signup: su}, nil
}

// portal holds the services the portal and sign-in handlers use.
type portal struct {
	ledger   *ledger.Ledger
	auth     *auth.Service
	usage    *usage.Store
	signup   *signup.Service
	resets   *passwordreset.Service
	settings PortalSettings
	price    decimal.Decimal // RMB per credit
	views    *portalViews
}

// newPortal builds the portal's services; resetLink is the absolute URL of
// the password-reset page for a token.
func newPortal(d Deps, resetLink func(token string) string) *portal {
	p := &portal{ledger: d.Ledger, auth: d.Auth, usage: d.Usage, settings: d.Portal, price: d.Config.CreditPriceRMB}
	if p.ledger == nil {
		p.ledger = ledger.New(d.Pool, ledger.Options{})
	}
	if p.auth == nil {
		p.auth = auth.New(d.Pool, auth.Options{})
	}
	if p.usage == nil {
		p.usage = usage.New(d.Pool)
	}
	if p.settings.Signup == (signup.Settings{}) {
		if ps, err := PortalSettingsFromEnv(); err == nil {
			p.settings = ps
		} else {
			d.Logger.Warn("portal settings: using defaults", slog.String("error", err.Error()))
			p.settings = PortalSettings{Signup: signup.Default}
		}
	}
	if !p.price.IsPositive() {
		p.price = decimal.RequireFromString("0.001")
	}
	ttl := p.settings.ViewCache
	if ttl == 0 {
		ttl = DefaultViewCache
	}
	p.views = newPortalViews(ttl)
	p.signup = &signup.Service{Pool: d.Pool, Auth: p.auth, Ledger: p.ledger, Settings: p.settings.Signup}
	p.resets = &passwordreset.Service{Pool: d.Pool, Auth: p.auth, Jobs: d.Jobs, I18n: d.I18n, Link: resetLink}
	return p
}
