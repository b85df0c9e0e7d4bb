package ledger

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// GraceFromEnv reads the grace policy from GRACE_CREDITS (credits in one
// grace lot) and GRACE_HOURS (its lifetime in whole hours). Both default to
// 0, which leaves grace off; GRACE_CREDITS above 0 turns it on and then
// needs GRACE_HOURS above 0 (a grace lot that never expired would block the
// next one for good). A bad value is an error naming its variable.
func GraceFromEnv(getenv func(string) string) (GracePolicy, error) {
	var g GracePolicy
	if v := strings.TrimSpace(getenv("GRACE_CREDITS")); v != "" {
		d, err := decimal.NewFromString(v)
		if err != nil || d.IsNegative() || !Round(d).Equal(d) {
			return g, errors.New("GRACE_CREDITS must be a number of credits of at least 0 with at most 6 decimals, such as 5000 (0 = no grace credit)")
		}
		g.Amount = d
	}
	var hours int
	if v := strings.TrimSpace(getenv("GRACE_HOURS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return g, errors.New("GRACE_HOURS must be a whole number of hours of at least 0, such as 72 (0 = no grace credit)")
		}
		hours = n
	}
	if !g.Amount.IsPositive() {
		return GracePolicy{}, nil
	}
	if hours == 0 {
		return GracePolicy{}, errors.New("GRACE_HOURS must be a whole number of hours above 0 when GRACE_CREDITS is set: it is how long a grace lot lasts")
	}
	g.Enabled = true
	g.Lifetime = time.Duration(hours) * time.Hour
	return g, nil
}
