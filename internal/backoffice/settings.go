package backoffice

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/seed75218f88/credits/internal/reconcile"
)

// Settings are the back office's limits and throttles.
type Settings struct {
	// SupportGrantLimit is the largest grant (credits) that applies without
	// approval; a larger one waits for a finance user. LIMIT_SUPPORT_GRANT,
	// default 50000.
	SupportGrantLimit decimal.Decimal
	// ManualRechargeLimitFen is the largest manual recharge (fen) that
	// applies without approval; a larger one waits for a second finance
	// user. LIMIT_MANUAL_RECHARGE_FEN, default 100000 (¥1,000.00).
	ManualRechargeLimitFen int64
	// RedeemMaxFailuresPerAccount failed redemptions by one customer within
	// RedeemWindow refuse further attempts. REDEEM_MAX_FAILURES_ACCOUNT, default 10.
	RedeemMaxFailuresPerAccount int
	// RedeemMaxFailuresPerIP failed redemptions from one IP within
	// RedeemWindow refuse further attempts (carrier NAT puts many customers
	// behind one address). REDEEM_MAX_FAILURES_IP, default 30.
	RedeemMaxFailuresPerIP int
	// RedeemWindow is how far back failures count. REDEEM_WINDOW, default 15m.
	RedeemWindow time.Duration
	// ImportLimits bound an uploaded bank statement or channel bill:
	// IMPORT_MAX_ROWS (default 20000) and IMPORT_MAX_UNZIPPED_BYTES (an XLSX
	// workbook decompressed, default 16777216); files are at most 8 MB.
	ImportLimits reconcile.Limits
}

// DefaultSettings are the settings when nothing is configured.
func DefaultSettings() Settings {
	return Settings{
		SupportGrantLimit:           decimal.NewFromInt(50000),
		ManualRechargeLimitFen:      100000,
		RedeemMaxFailuresPerAccount: 10,
		RedeemMaxFailuresPerIP:      30,
		RedeemWindow:                15 * time.Minute,
		ImportLimits:                reconcile.DefaultLimits(),
	}
}

// ManualRechargeLimit is ManualRechargeLimitFen in yuan.
func (s Settings) ManualRechargeLimit() decimal.Decimal {
	return decimal.New(s.ManualRechargeLimitFen, -2)
}

// SettingsFromEnv reads LIMIT_SUPPORT_GRANT, LIMIT_MANUAL_RECHARGE_FEN,
// REDEEM_MAX_FAILURES_ACCOUNT, REDEEM_MAX_FAILURES_IP, REDEEM_WINDOW,
// IMPORT_MAX_ROWS and IMPORT_MAX_UNZIPPED_BYTES
// through getenv (os.Getenv); unset ones take DefaultSettings. Errors name
// the variable at fault.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := DefaultSettings()
	if v := getenv("LIMIT_SUPPORT_GRANT"); v != "" {
		d, err := decimal.NewFromString(v)
		if err != nil || d.IsNegative() {
			return s, fmt.Errorf("LIMIT_SUPPORT_GRANT must be a non-negative number of credits, not %q", v)
		}
		s.SupportGrantLimit = d
	}
	ints := []struct {
		name string
		dst  func(int64)
	}{
		{"LIMIT_MANUAL_RECHARGE_FEN", func(n int64) { s.ManualRechargeLimitFen = n }},
		{"REDEEM_MAX_FAILURES_ACCOUNT", func(n int64) { s.RedeemMaxFailuresPerAccount = int(n) }},
		{"REDEEM_MAX_FAILURES_IP", func(n int64) { s.RedeemMaxFailuresPerIP = int(n) }},
		{"IMPORT_MAX_ROWS", func(n int64) { s.ImportLimits.MaxRows = int(n) }},
		{"IMPORT_MAX_UNZIPPED_BYTES", func(n int64) { s.ImportLimits.MaxUnzippedBytes = n }},
	}
	for _, i := range ints {
		if v := getenv(i.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > 1<<40 || strings.HasPrefix(i.name, "IMPORT_") && n == 0 {
				return s, fmt.Errorf("%s must be a non-negative whole number (positive for IMPORT_*), not %q", i.name, v)
			}
			i.dst(n)
		}
	}
	if v := getenv("REDEEM_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("REDEEM_WINDOW must be a positive duration such as 15m, not %q", v)
		}
		s.RedeemWindow = d
	}
	return s, nil
}
