package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/ratelimit"
)

// gatewaySettings are the gateway API's environment variables:
// TRIAL_CREDIT_CAP (credits, default 10000), RESERVATION_TTL (5m),
// RESERVATION_EXPIRED_POLICY (release|charge, default release),
// LATE_EVENT_WINDOW (168h), EXPIRY_REMINDER_DAYS (7), and the rate limits
// DEFAULT_RPM / DEFAULT_TPM (verified accounts without their own limits)
// and TRIAL_RPM / TRIAL_TPM (unverified accounts).
type gatewaySettings struct {
	defaultLimit ratelimit.Limit
	trialLimit   ratelimit.Limit
	trialCap     decimal.Decimal
	ttl          time.Duration
	policy       ledger.ExpiredReservationPolicy
	lateWindow   time.Duration
	reminderDays int
}

func gatewaySettingsFromEnv() (gatewaySettings, error) {
	s := gatewaySettings{defaultLimit: ratelimit.DefaultLimit, trialLimit: ratelimit.TrialLimit,
		trialCap: ledger.DefaultTrialCap, ttl: 5 * time.Minute, policy: ledger.ExpiredRelease,
		lateWindow: 7 * 24 * time.Hour, reminderDays: 7}
	var err error
	for name, n := range map[string]*int64{"DEFAULT_RPM": &s.defaultLimit.RPM, "DEFAULT_TPM": &s.defaultLimit.TPM,
		"TRIAL_RPM": &s.trialLimit.RPM, "TRIAL_TPM": &s.trialLimit.TPM} {
		if v := os.Getenv(name); v != "" {
			if *n, err = strconv.ParseInt(v, 10, 64); err != nil || *n <= 0 {
				return s, fmt.Errorf("%s must be a positive whole number per minute", name)
			}
		}
	}
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
