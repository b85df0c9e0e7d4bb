package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/web/webtest"
)

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestLedgerArchiveAndRestoreThroughTheBinary: events of an old month
// (the services on a clock of their own, in a database of the test's own),
// its revenue positions closed; `credits ledger archive` writes the
// month's file, manifest and sidecar to a folder, whose SHA-256s agree;
// `credits ledger verify` is clean; the balance at an instant inside the
// month is archived (410 archived at the API) and after it unchanged;
// `credits ledger restore` brings the month back, verify is clean and the
// balance inside the month is what it was.
func TestLedgerArchiveAndRestoreThroughTheBinary(t *testing.T) {
	ctx := context.Background()
	owner, appPool, url := dbtest.OwnRoles(t)
	parts, err := ledger.Partitions(ctx, owner)
	require.NoError(t, err)
	first := parts[len(parts)-1].From // the first month past those the migration made
	_, err = ledger.CreatePartitions(ctx, owner, first, 2)
	require.NoError(t, err)
	clock := &testClock{t: first.Add(30 * time.Hour)}
	a := webtest.Start(t, webtest.WithPool(appPool), webtest.WithOverrides(func(o *app.Overrides) { o.Now = clock.Now }))
	l := a.Services.Ledger

	acc, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: t.Name()})
	require.NoError(t, err)
	require.NoError(t, l.EndTrial(ctx, acc.ID, "test", "verified"))
	_, err = l.Credit(ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(500), PaidFen: 50,
		IdempotencyKey: "top-up", Actor: "test"})
	require.NoError(t, err)
	for i, day := range []int{3, 12, 25} {
		clock.Set(first.Add(time.Duration(day)*24*time.Hour + time.Hour))
		_, err := l.Charge(ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: decimal.RequireFromString("12.5"), IdempotencyKey: fmt.Sprintf("call-%d", i), Model: "m"})
		require.NoError(t, err)
	}
	inside := first.Add(13 * 24 * time.Hour) // after the second charge
	balanceInside, err := l.BalanceAt(ctx, acc.ID, inside)
	require.NoError(t, err)
	require.Equal(t, "475", balanceInside.String())
	next := first.In(time.FixedZone("CST", 8*3600)).AddDate(0, 1, 0).UTC()
	clock.Set(next.Add(3 * 24 * time.Hour))
	_, err = l.Charge(ctx, ledger.ChargeRequest{AccountID: acc.ID, Amount: decimal.NewFromInt(1), IdempotencyKey: "next-month", Model: "m"})
	require.NoError(t, err)
	closed, err := a.Services.Backoffice.ClosePaidPositions(ctx)
	require.NoError(t, err)
	require.Positive(t, closed, "the month's revenue positions are recorded")

	env := []string{"DATABASE_URL=" + url}
	dir := t.TempDir()
	month := first.In(time.FixedZone("CST", 8*3600)).Format("2006-01")
	code, stdout, stderr := runCreditsOutput(t, env, "ledger archive -dir "+dir+" "+month)
	require.Zero(t, code, stderr)
	part := "ledger_events_" + strings.ReplaceAll(month, "-", "_")
	require.Contains(t, stdout, part+" left the ledger: 5 events of 1 pools", "the trial's end, the top-up, three charges")

	// the three files, and their hashes agree
	data, err := os.ReadFile(filepath.Join(dir, part+".copy.gz"))
	require.NoError(t, err)
	rawManifest, err := os.ReadFile(filepath.Join(dir, part+".manifest.json"))
	require.NoError(t, err)
	sums, err := os.ReadFile(filepath.Join(dir, part+".sha256"))
	require.NoError(t, err)
	var m ledger.Manifest
	require.NoError(t, json.Unmarshal(rawManifest, &m))
	require.Equal(t, sha256Hex(data), m.SHA256, "the manifest's SHA-256 is the file's")
	require.EqualValues(t, 5, m.Events)
	require.Equal(t, part+".copy.gz", m.File)
	require.Equal(t, fmt.Sprintf("%s  %s\n%s  %s\n", m.SHA256, m.File, sha256Hex(rawManifest), part+".manifest.json"), string(sums))
	require.Contains(t, stdout, "sha256 "+m.SHA256)

	code, stdout, stderr = runCreditsOutput(t, env, "ledger verify")
	require.Zero(t, code, stderr)
	require.Contains(t, stdout, "every pool's event chain, balance, lots, reserved total and holds agree")

	_, err = l.BalanceAt(ctx, acc.ID, inside)
	require.ErrorIs(t, err, ledger.ErrArchived)
	mapped := a.Server.LookupError(err)
	require.Equal(t, http.StatusGone, mapped.Status)
	require.Equal(t, "archived", mapped.Code)
	after, err := l.BalanceAt(ctx, acc.ID, next.Add(4*24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, "461.5", after.String(), "after the month, unchanged")

	code, stdout, stderr = runCreditsOutput(t, env, "ledger restore "+filepath.Join(dir, part+".copy.gz"))
	require.Zero(t, code, stderr)
	require.Contains(t, stdout, part+" is back in the ledger with its 5 events")
	code, _, stderr = runCreditsOutput(t, env, "ledger verify")
	require.Zero(t, code, stderr)
	got, err := l.BalanceAt(ctx, acc.ID, inside)
	require.NoError(t, err)
	require.True(t, balanceInside.Equal(got), "the balance inside the month is back: %s", got)
	code, _, stderr = runCreditsOutput(t, env, "ledger restore "+filepath.Join(dir, part+".copy.gz"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no archive of "+part+" awaits restore")
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
