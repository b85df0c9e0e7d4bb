package web

import (
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/internal/usage"
)

// TopUpTier is one top-up amount offered on the top-up page, with the bonus
// promo credit it earns (percent of the credits bought).
type TopUpTier struct {
	Amount       decimal.Decimal // RMB
	BonusPercent int
}

// PortalSettings are the portal's settings.
type PortalSettings struct {
	Signup signup.Settings
	// Tiers are the top-up amounts, smallest first.
	Tiers []TopUpTier
	// ViewCache is how long pages may reuse what they read from the ledger
	// while its head is unchanged (see viewCache); 0 means
	// DefaultViewCache, negative turns the caches off (for measurements).
	ViewCache time.Duration
}

// DefaultTiers are ¥30, ¥100 (+20 % bonus), ¥300 and ¥1,000.
var DefaultTiers = []TopUpTier{
	{decimal.NewFromInt(30), 0},
	{decimal.NewFromInt(100), 20},
	{decimal.NewFromInt(300), 0},
	{decimal.NewFromInt(1000), 0},
}

// PortalSettingsFromEnv reads SIGNUP_CREDIT, SIGNUP_CREDIT_EXPIRY_DAYS and
// TOPUP_TIERS (RMB amounts separated by commas, each with an optional
// ":bonus percent", e.g. "30,100:20,300,1000").
func PortalSettingsFromEnv() (PortalSettings, error) {
	su, err := signup.SettingsFromEnv()
	if err != nil {
		return PortalSettings{}, err
	}
	ps := PortalSettings{Signup: su, Tiers: DefaultTiers}
	if v := strings.TrimSpace(os.Getenv("TOPUP_TIERS")); v != "" {
		if ps.Tiers, err = ParseTiers(v); err != nil {
			return PortalSettings{}, err
		}
	}
	return ps, nil
}

// ParseTiers reads a TOPUP_TIERS value such as "30,100:20,300,1000".
func ParseTiers(v string) ([]TopUpTier, error) {
	bad := errors.New(`TOPUP_TIERS must list RMB amounts with optional bonus percents, e.g. "30,100:20,300,1000"`)
	var out []TopUpTier
	for _, f := range strings.Split(v, ",") {
		amount, bonus, hasBonus := strings.Cut(strings.TrimSpace(f), ":")
		d, err := decimal.NewFromString(amount)
		if err != nil || !d.IsPositive() || !d.Equal(d.Round(2)) {
			return nil, bad
		}
		t := TopUpTier{Amount: d}
		if hasBonus {
			if t.BonusPercent, err = strconv.Atoi(bonus); err != nil || t.BonusPercent < 0 || t.BonusPercent > 100 {
				return nil, bad
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// portal holds the services the portal and sign-in handlers use.
type portal struct {
	ledger   *ledger.Ledger
	auth     *auth.Service
	usage    *usage.Store
	signup   *signup.Service
	mail     mail.Sender
	settings PortalSettings
	price    decimal.Decimal // RMB per credit
	views    *portalViews
}

func newPortal(d Deps) *portal {
	p := &portal{ledger: d.Ledger, auth: d.Auth, usage: d.Usage, mail: d.Mail, settings: d.Portal, price: d.Config.CreditPriceRMB}
	if p.ledger == nil {
		p.ledger = ledger.New(d.Pool, ledger.Options{})
	}
	if p.auth == nil {
		p.auth = auth.New(d.Pool, auth.Options{})
	}
	if p.usage == nil {
		p.usage = usage.New(d.Pool)
	}
	if p.mail == nil {
		p.mail = mail.NewDev(db.ProjectRoot()+"/.data/mail", d.Logger)
	}
	if p.settings.Tiers == nil && p.settings.Signup == (signup.Settings{}) {
		if ps, err := PortalSettingsFromEnv(); err == nil {
			p.settings = ps
		} else {
			d.Logger.Warn("portal settings: using defaults", slog.String("error", err.Error()))
			p.settings = PortalSettings{Signup: signup.Default, Tiers: DefaultTiers}
		}
	}
	if p.settings.Tiers == nil {
		p.settings.Tiers = DefaultTiers
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
	return p
}
