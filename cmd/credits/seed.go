package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// seedResult is what one seed step made: lines to print, and demo sign-ins
// (e.g. "customer  demo@example.com / demo-password") that make run shows.
type seedResult struct {
	Lines   []string
	SignIns []string
}

// seedStep is one part of the demo data. Steps run in order, each must be
// idempotent (make run seeds on every start), and each area appends its own
// step to seedSteps, e.g. {"ledger", seedLedger} from cmd/credits/seed_ledger.go.
type seedStep struct {
	name string
	run  func(ctx context.Context, a *app.App) (seedResult, error)
}

// seedSteps is the demo data, in dependency order.
var seedSteps = []seedStep{
	{"platform", seedPlatform},
	{"portal", seedPortal},
	{"gateway", seedGateway},
	{"relay", seedRelay},
	{"plans", seedPlans},
	{"products", seedProducts},
	{"staff", seedStaff},
}

func runSeed(ctx context.Context, _ []string) error {
	u, cfg, err := resolveDB(ctx)
	if err != nil {
		return err
	}
	pool, err := db.Open(ctx, u.App)
	if err != nil {
		return err
	}
	defer pool.Close()
	return seed(ctx, cfg, pool, seedSteps, os.Stdout)
}

// seed builds the application as `credits serve` does (without working its
// jobs), runs steps through it and prints what they made, then the demo
// sign-ins.
func seed(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, steps []seedStep, out io.Writer) error {
	if err := db.RequireMigrated(ctx, pool); err != nil {
		return err
	}
	a, err := app.Build(ctx, cfg, pool, nil, app.Overrides{Now: seedClock.Now})
	if err != nil {
		return err
	}
	defer a.Close()
	var signIns []string
	for _, s := range steps {
		res, err := s.run(ctx, a)
		if err != nil {
			return fmt.Errorf("seed %s: %w", s.name, err)
		}
		for _, l := range res.Lines {
			fmt.Fprintf(out, "seed %s: %s\n", s.name, l)
		}
		signIns = append(signIns, res.SignIns...)
	}
	if len(signIns) > 0 {
		fmt.Fprintln(out, "demo sign-ins:")
		for _, s := range signIns {
			fmt.Fprintln(out, "  "+s)
		}
	}
	return nil
}

// seedPlatform checks the database answers; the platform has no demo rows.
func seedPlatform(ctx context.Context, a *app.App) (seedResult, error) {
	var sessions int
	if err := a.Pool.QueryRow(ctx, "SELECT count(*) FROM sessions").Scan(&sessions); err != nil {
		return seedResult{}, err
	}
	return seedResult{Lines: []string{fmt.Sprintf("database ready (%d stored sessions); no demo data of its own", sessions)}}, nil
}

// seedClock is the seed's clock: the present, unless a step sets it to write
// demo history at the time it happened.
var seedClock = &movableClock{}

// movableClock is time.Now, or the instant Set gave it.
type movableClock struct {
	mu sync.Mutex
	at time.Time
}

// Now is the set instant, or the present when none is set.
func (c *movableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return time.Now()
	}
	return c.at
}

// Set makes Now answer t; the zero time returns it to the present.
func (c *movableClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = t
}
