package auth_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// clock is an injectable Options.Now that tests move forward.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type testBundle struct {
	svc    *auth.Service
	pool   *pgxpool.Pool
	clock  *clock
	sleeps *sleepLog
}

// setup gives a test its own service and clock on the package's database;
// tests stay independent by using their own logins, addresses and accounts.
// The service records the sign-in slow-down's waits instead of waiting.
func setup(t *testing.T) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	c := &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	sl := &sleepLog{}
	return &testBundle{svc: auth.New(pool, auth.Options{Now: c.Now, Sleep: sl.Sleep}), pool: pool, clock: c, sleeps: sl}
}

// sleepLog is an injectable Options.Sleep that records instead of waiting.
type sleepLog struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *sleepLog) Sleep(_ context.Context, d time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = append(l.d, d)
	return nil
}

// take returns the waits recorded since the last take.
func (l *sleepLog) take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.d
	l.d = nil
	return d
}

// cheapArgon2 makes tests that hash many passwords at once light on memory.
var cheapArgon2 = auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

var seq atomic.Int64

// uniqueEmail returns an address no other test uses.
func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s.%d.%d@example.cn", prefix, rand.Int64N(1e9), seq.Add(1))
}

// uniquePhone returns a mainland mobile number no other test uses, as the
// 11 bare digits.
func uniquePhone() string {
	return fmt.Sprintf("1%d%09d", 3+rand.IntN(7), (rand.Int64N(1e5)*1e4+seq.Add(1))%1e9)
}

// uniqueIP returns a private IPv4 address no other test uses.
func uniqueIP() string {
	n := seq.Add(1) + rand.Int64N(1<<20)
	return fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
}

// uniqueAccountID returns a ledger account id no other test uses.
func uniqueAccountID() int64 {
	return 1_000_000 + rand.Int64N(1e12) + seq.Add(1)
}

const goodPassword = "correct horse 42"
