// Package config reads the process settings from environment variables, with
// safe defaults for development. Every variable is listed in the README.
package config

import (
	"errors"
	"fmt"
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

	// CreditPriceRMB is the RMB price of one credit (default ¥0.001).
	CreditPriceRMB decimal.Decimal

	// PaymentSandbox routes WeChat Pay and Alipay calls to `credits paysim`.
	PaymentSandbox bool

	ShutdownTimeout time.Duration
}

// Load reads the environment. It fails with a message naming the variable.
func Load() (Config, error) {
	c := Config{
		Env:             Env(get("APP_ENV", string(Dev))),
		DatabaseURL:     os.Getenv("DATABASE_URL"),
		Addr:            get("ADDR", "127.0.0.1:8080"),
		SessionSecret:   get("SESSION_SECRET", DevSessionSecret),
		RedisURL:        os.Getenv("REDIS_URL"),
		ShutdownTimeout: 15 * time.Second,
	}
	c.BaseURL = strings.TrimRight(get("BASE_URL", "http://"+c.Addr), "/")
	var err error
	if c.CreditPriceRMB, err = decimal.NewFromString(get("CREDIT_PRICE_RMB", "0.001")); err != nil || !c.CreditPriceRMB.IsPositive() {
		return c, errors.New("CREDIT_PRICE_RMB must be a positive decimal such as 0.001")
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

func get(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}
