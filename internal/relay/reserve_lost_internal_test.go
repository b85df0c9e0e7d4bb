package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
)

// Which failed reserves may have been made (their answer lost) and are
// therefore made again and released: not a refusal, not one that reached
// no server (a connect that timed out included).
func TestReserveLost(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("ledger: reserve: %w", err) }
	for _, tc := range []struct {
		name string
		err  error
		lost bool
	}{
		{"ConnectionReset", wrap(&net.OpError{Op: "read", Net: "unix", Err: syscall.ECONNRESET}), true},
		{"ShutdownCutACommit", wrap(&pgconn.PgError{Code: "57P01"}), true},
		{"OurContextEnded", wrap(context.DeadlineExceeded), true},
		{"ClientGone", wrap(context.Canceled), true},
		{"DialTimedOut", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: context.DeadlineExceeded}), false},
		{"DialRefused", wrap(&net.OpError{Op: "dial", Net: "unix", Err: syscall.ECONNREFUSED}), false},
		{"StandbyRefusedTheWrite", wrap(&pgconn.PgError{Code: "25006"}), false},
		{"InsufficientCredits", wrap(ledger.ErrInsufficientCredits), false},
		{"BudgetExceeded", wrap(ledger.ErrBudgetExceeded), false},
		{"RateLimited", &gateway.RateLimitedError{}, false},
		{"OtherError", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.lost, reserveLost(tc.err), "%v", tc.err)
		})
	}
}
