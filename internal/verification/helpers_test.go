package verification_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/piicrypto"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/verification"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var testNow = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

// scripted is a Provider that answers from the sandbox unless a number has
// a scripted answer or the provider is set down; it counts calls and can
// hold every call until release is closed.
type scripted struct {
	mu      sync.Mutex
	answers map[string]identity.Result
	down    bool
	calls   atomic.Int64
	gate    chan struct{}
}

func (p *scripted) answer(ctx context.Context, number string, fallback func() (identity.Result, error)) (identity.Result, error) {
	p.calls.Add(1)
	if p.gate != nil {
		<-p.gate
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return identity.Result{}, fmt.Errorf("%w: connection refused", identity.ErrProviderUnavailable)
	}
	if r, ok := p.answers[number]; ok {
		return r, nil
	}
	return fallback()
}

func (p *scripted) set(number string, r identity.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.answers == nil {
		p.answers = map[string]identity.Result{}
	}
	p.answers[number] = r
}

func (p *scripted) VerifyPerson(ctx context.Context, name, n string) (identity.Result, error) {
	return p.answer(ctx, n, func() (identity.Result, error) {
		return identity.Sandbox{Now: func() time.Time { return testNow }}.VerifyPerson(ctx, name, n)
	})
}

func (p *scripted) VerifyCompany(ctx context.Context, name, c, rep string) (identity.Result, error) {
	return p.answer(ctx, c, func() (identity.Result, error) { return identity.Sandbox{}.VerifyCompany(ctx, name, c, rep) })
}

type testBundle struct {
	ctx      context.Context
	pool     *pgxpool.Pool
	ledger   *ledger.Ledger
	provider *scripted
	svc      *verification.Service
	opts     verification.Options
}

func bonus() verification.Bonus {
	return verification.Bonus{Amount: decimal.RequireFromString("500"), ExpiryDays: 30}
}

func setup(t *testing.T, opts verification.Options) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	// Accounts start in trial, as in the server; verification ends it.
	l := ledger.New(pool, ledger.Options{Now: func() time.Time { return testNow }, TrialCap: ledger.DefaultTrialCap})
	t.Cleanup(l.Close)
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	p := &scripted{}
	svc := verification.New(pool, p, piicrypto.Dev(), piicrypto.DevBlindIndex(), l, opts)
	return &testBundle{ctx: context.Background(), pool: pool, ledger: l, provider: p, svc: svc, opts: opts}
}

func (b *testBundle) account(t *testing.T) int64 {
	t.Helper()
	a, err := b.ledger.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "t"})
	require.NoError(t, err)
	return a.ID
}

// promo returns the account's promo lots.
func (b *testBundle) promo(t *testing.T, accountID int64) []ledger.Lot {
	t.Helper()
	lots, err := b.ledger.Lots(b.ctx, accountID)
	require.NoError(t, err)
	var out []ledger.Lot
	for _, l := range lots {
		if l.Kind == ledger.LotPromo {
			out = append(out, l)
		}
	}
	return out
}

var seq atomic.Int64

// personNumber returns a fresh valid resident ID number whose sandbox answer
// is verified (sequence below 997).
func personNumber(t *testing.T) string {
	t.Helper()
	n := seq.Add(1)
	birth := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n/900))
	id, err := identity.BuildResidentID("110101", birth, int(n%900)+1)
	require.NoError(t, err)
	return id
}

// personNumberSeq returns a valid number with the given sandbox sequence
// (998: undecided, 999: name mismatch, 997: not found).
func personNumberSeq(t *testing.T, s int) string {
	t.Helper()
	n := seq.Add(1)
	id, err := identity.BuildResidentID("310104", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n)), s)
	require.NoError(t, err)
	return id
}

// creditCode returns a fresh valid credit code whose sandbox answer is verified.
func creditCode(t *testing.T) string {
	t.Helper()
	n := seq.Add(1)
	c, err := identity.BuildCreditCode(fmt.Sprintf("91110108MA%07d", n%1_000_000))
	require.NoError(t, err)
	return c
}

// Minimal files of each kind, recognised by their magic numbers.
var (
	pngFile  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)
	jpegFile = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), make([]byte, 64)...)
	pdfFile  = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	gifFile  = append([]byte("GIF89a"), make([]byte, 64)...)
)
