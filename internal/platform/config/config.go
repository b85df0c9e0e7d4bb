// Package config reads the process settings from environment variables, with
// safe defaults for development. Every variable is listed in the README.
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

// Config is every setting the process reads.
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
}

// PIIKeys are the raw PII key settings, as piicrypto.FromSettings reads them.
type PIIKeys struct {
	Keys, ActiveKey, IndexKey string
}

// Load reads the environment. It fails with a message naming the variable.
func Load() (Config, error) {
	c := Config{
		Env:             Env(get("APP_ENV", string(Dev))),
		DatabaseURL:     os.Getenv("DATABASE_URL"),
		Addr:            get("ADDR", "127.0.0.1:8080"),
		SessionSecret:   get("SESSION_SECRET", DevSessionSecret),
		RedisURL:        os.Getenv("REDIS_URL"),
		PII:             PIIKeys{Keys: os.Getenv("PII_KEYS"), ActiveKey: os.Getenv("PII_ACTIVE_KEY"), IndexKey: os.Getenv("PII_INDEX_KEY")},
		ShutdownTimeout: 15 * time.Second,
	}
	c.BaseURL = strings.TrimRight(get("BASE_URL", "http://"+c.Addr), "/")
	var err error
	if c.CreditPriceRMB, err = ParseCreditPrice(os.Getenv("CREDIT_PRICE_RMB")); err != nil {
		return c, err
	}
	if c.TrustedProxies, err = ParseTrustedProxies(os.Getenv("TRUSTED_PROXIES")); err != nil {
		return c, err
	}
	if c.PaymentSandbox, err = strconv.ParseBool(get("PAYMENT_SANDBOX", strconv.FormatBool(c.Env != Production))); err != nil {
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

func get(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}
