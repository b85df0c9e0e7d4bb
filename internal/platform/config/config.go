// Package config is the one place the process settings are read: from
// environment variables, with safe defaults for development, parsed and
// checked once into a typed Config. Every variable is listed in the README.
// The syntax of a variable lives here; what a value means stays with its
// domain (payments.ParseTiers for the tier list's rule, for example).
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/payments/alipay"
	"github.com/seed75218f88/credits/internal/payments/wechatpay"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/internal/verification"
)

// Env is the deployment environment.
type Env string

// Environments.
const (
	Dev        Env = "dev"
	Production Env = "production"
)

// DevSessionSecret is the development default; production refuses it.
const DevSessionSecret = "dev-only-secret-change-me-0123456789abcdef"

// Config is every setting the process reads: parsed and checked once, at
// start (Load), and handed to the constructors by the composition root
// (internal/app). Nothing else reads the environment.
type Config struct {
	Env           Env
	DatabaseURL   string // empty: resolved by db.Resolve
	Addr          string
	BaseURL       string // public URL of the portal, used in links and notify URLs
	SessionSecret string
	RedisURL      string

	// TrustedProxies are the networks of the reverse proxies whose
	// X-Forwarded-For header names the client (TRUSTED_PROXIES); empty: the
	// client is the TCP peer and the header is ignored.
	TrustedProxies []netip.Prefix

	// CreditPriceRMB is the RMB price of one credit (default ¥0.001).
	CreditPriceRMB decimal.Decimal

	// PaymentSandbox routes WeChat Pay and Alipay calls to `credits paysim`.
	PaymentSandbox bool

	// PII holds the keys that seal and index personal data (PII_KEYS,
	// PII_ACTIVE_KEY, PII_INDEX_KEY); piicrypto.FromSettings checks them.
	PII PIIKeys

	ShutdownTimeout time.Duration

	// ShutdownDrain is how long `credits serve` keeps answering after
	// SIGTERM with /readyz failing, before it stops accepting connections
	// (SHUTDOWN_DRAIN, a Go duration, default 0): long enough for a load
	// balancer's health checks to take the instance out first, so that no
	// request is sent to a closing listener.
	ShutdownDrain time.Duration

	// PGOptions is the libpq PGOPTIONS the process started with; `credits
	// migrate` adds the credit price to it for the migrations.
	PGOptions string

	// baseURLSet records that BASE_URL was given (SetAddr keeps it then).
	baseURLSet bool

	// The areas' settings, each read by its own function in areas.go.
	Database     Database
	Gateway      Gateway
	Grace        ledger.GracePolicy
	Signup       signup.Settings
	Payments     payments.Options // the code-wired fields (Now, hooks, Logger) stay nil
	WeChatPay    wechatpay.Settings
	Alipay       alipay.Settings
	Paysim       Paysim
	Relay        Relay
	AutoTopUp    AutoTopUp
	Invoicing    invoicing.Options // OnIssued is wired in code
	Verification verification.Options
	// VerifyProvider is the real-name verification HTTP provider; an empty
	// Endpoint selects the sandbox (refused in production).
	VerifyProvider identity.HTTPConfig
	Backoffice     backoffice.Settings
	// NATS takes usage events through JetStream (NATS_URL set) instead of
	// charging them in the request.
	NATS NATS
	// SMTP is the outgoing mail server; a zero Host means the development
	// sender writing files under .data/mail (refused in production).
	SMTP mail.SMTPConfig
}

// PIIKeys are the raw PII key settings, as piicrypto.FromSettings reads them.
type PIIKeys struct {
	Keys, ActiveKey, IndexKey string
}

// Load reads the process environment once and parses it (LoadFrom).
func Load() (Config, error) {
	vars := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return LoadFrom(vars)
}

// LoadFrom parses the settings from vars (name → value; unset and empty
// are the same). It fails with one line naming the variable at fault.
func LoadFrom(vars map[string]string) (Config, error) {
	env := source(vars)
	c := Config{
		Env:             Env(env.or("APP_ENV", string(Dev))),
		DatabaseURL:     env.get("DATABASE_URL"),
		Addr:            env.or("ADDR", "127.0.0.1:8080"),
		SessionSecret:   env.or("SESSION_SECRET", DevSessionSecret),
		RedisURL:        env.get("REDIS_URL"),
		PII:             PIIKeys{Keys: env.get("PII_KEYS"), ActiveKey: env.get("PII_ACTIVE_KEY"), IndexKey: env.get("PII_INDEX_KEY")},
		ShutdownTimeout: 15 * time.Second,
	}
	c.BaseURL = strings.TrimRight(env.or("BASE_URL", "http://"+c.Addr), "/")
	c.baseURLSet = env.get("BASE_URL") != ""
	c.PGOptions = env.get("PGOPTIONS")
	var err error
	if c.CreditPriceRMB, err = ParseCreditPrice(env.get("CREDIT_PRICE_RMB")); err != nil {
		return c, err
	}
	if v := env.get("SHUTDOWN_DRAIN"); v != "" {
		if c.ShutdownDrain, err = time.ParseDuration(v); err != nil || c.ShutdownDrain < 0 || c.ShutdownDrain > time.Minute {
			return c, errors.New("SHUTDOWN_DRAIN must be a duration from 0s to 1m, such as 3s")
		}
	}
	if c.TrustedProxies, err = ParseTrustedProxies(env.get("TRUSTED_PROXIES")); err != nil {
		return c, err
	}
	if c.PaymentSandbox, err = strconv.ParseBool(env.or("PAYMENT_SANDBOX", strconv.FormatBool(c.Env != Production))); err != nil {
		return c, errors.New("PAYMENT_SANDBOX must be true or false")
	}
	switch c.Env {
	case Dev:
	case Production:
		if c.SessionSecret == DevSessionSecret || len(c.SessionSecret) < 32 {
			return c, errors.New("APP_ENV=production needs SESSION_SECRET set to a random value of at least 32 characters")
		}
		if c.PaymentSandbox {
			return c, errors.New("APP_ENV=production refuses PAYMENT_SANDBOX=true: configure the real WeChat Pay and Alipay channels")
		}
	default:
		return c, fmt.Errorf("APP_ENV must be dev or production, not %q", c.Env)
	}
	for _, area := range []func(*Config, source) error{readDatabase, readGateway, readGrace, readSignup, readPayments,
		readChannels, readAutoTopUp, readInvoicing, readVerification, readBackoffice, readSMTP, readRelay, readNATS} {
		if err := area(&c, env); err != nil {
			return c, err
		}
	}
	return c, nil
}

// DefaultCreditPriceRMB is the RMB price of one credit when CREDIT_PRICE_RMB
// is unset (¥0.001; migration 000520 and the pricing catalogue assume it too).
const DefaultCreditPriceRMB = "0.001"

// ParseCreditPrice reads CREDIT_PRICE_RMB: a positive decimal, empty for the
// default. It is the one parser of that variable.
func ParseCreditPrice(v string) (decimal.Decimal, error) {
	if v == "" {
		v = DefaultCreditPriceRMB
	}
	d, err := decimal.NewFromString(v)
	if err != nil || !d.IsPositive() {
		return decimal.Decimal{}, errors.New("CREDIT_PRICE_RMB must be a positive decimal such as 0.001")
	}
	return d, nil
}

// ParseTrustedProxies reads TRUSTED_PROXIES: comma-separated networks in
// CIDR form (10.0.0.0/8, fd00::/8) or single addresses. A network that would
// trust every client (a /0) is refused, as is anything else that is not one.
func ParseTrustedProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("TRUSTED_PROXIES: %q is not a network such as 10.0.0.0/8 or an address such as 10.0.0.5", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("TRUSTED_PROXIES: %q would trust every client's X-Forwarded-For; list your proxies' networks", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// SetAddr overrides ADDR (serve --addr); the base URL follows it unless
// BASE_URL was set.
func (c *Config) SetAddr(addr string) {
	c.Addr = addr
	if !c.baseURLSet {
		c.BaseURL = "http://" + addr
	}
}
