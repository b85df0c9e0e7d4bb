package verification

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// OptionsFromEnv reads the verification settings through getenv (os.Getenv):
//
//	VERIFICATION_BONUS_CREDITS      credits granted once on verification (default 0: none)
//	VERIFICATION_BONUS_EXPIRY_DAYS  days until the bonus lot expires (default 0: never)
//	VERIFICATION_LICENCE_MAX_BYTES  largest licence upload (default 5242880, 5 MiB)
//	PII_REVEAL_ROLES                comma-separated staff roles that may see full
//	                                numbers and licence files (default "admin")
//
// The allowed licence types are fixed (DefaultAllowedTypes). Errors name the
// variable at fault.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	var o Options
	if v := strings.TrimSpace(getenv("VERIFICATION_BONUS_CREDITS")); v != "" {
		d, err := decimal.NewFromString(v)
		if err != nil || d.IsNegative() || d.Exponent() < -6 {
			return o, fmt.Errorf("VERIFICATION_BONUS_CREDITS must be a non-negative number of credits with at most 6 decimals, not %q", v)
		}
		o.Bonus.Amount = d
	}
	var err error
	if o.Bonus.ExpiryDays, err = intSetting(getenv, "VERIFICATION_BONUS_EXPIRY_DAYS", 0); err != nil {
		return o, err
	}
	if o.MaxLicenceBytes, err = intSetting(getenv, "VERIFICATION_LICENCE_MAX_BYTES", DefaultMaxLicenceBytes); err != nil {
		return o, err
	}
	if o.MaxLicenceBytes == 0 {
		return o, fmt.Errorf("VERIFICATION_LICENCE_MAX_BYTES must be positive")
	}
	for r := range strings.SplitSeq(getenv("PII_REVEAL_ROLES"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			o.RevealRoles = append(o.RevealRoles, r)
		}
	}
	if len(o.RevealRoles) == 0 {
		o.RevealRoles = DefaultRevealRoles
	}
	o.AllowedTypes = DefaultAllowedTypes
	return o, nil
}

func intSetting(getenv func(string) string, name string, def int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be a non-negative whole number, not %q", name, v)
	}
	return n, nil
}
