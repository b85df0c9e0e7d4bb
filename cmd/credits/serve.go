package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/web"
)

// runServe starts the web server and runs it until SIGINT/SIGTERM.
func runServe(ctx context.Context, args []string) error {
	return serve(ctx, args, os.Stdout, os.Stderr)
}

// serve is runServe with its outputs given, so tests can run it.
func serve(ctx context.Context, args []string, stdout, logOut io.Writer) error {
	flags := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := flags.String("addr", "", "listen address, host:port (overrides ADDR)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.SetAddr(*addr)
	}
	logger := newLogger(cfg, logOut)

	pool, err := openMigratedDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	// The server must not be able to drop or disable the triggers that keep
	// history append-only: production refuses the owner role, dev warns.
	if err := db.CheckAppRole(ctx, pool); err != nil {
		if cfg.Env == config.Production {
			return err
		}
		logger.Warn(err.Error())
	}
	a, err := app.Build(ctx, cfg, pool, logger, app.Overrides{})
	if err != nil {
		return err
	}
	defer a.Close()
	srv, err := web.New(a.WebDeps())
	if err != nil {
		return err
	}
	ln, err := web.Listen(cfg.Addr)
	if err != nil {
		return err
	}
	stopJobs, err := a.Start(ctx)
	if err != nil {
		return err
	}
	defer stopJobs()
	fmt.Fprintf(stdout, "credits: serving on http://%s (Ctrl-C to stop)\n", ln.Addr())
	logger.Info("server started", "addr", ln.Addr().String(), "env", string(cfg.Env))
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	logger.Info("server stopped")
	return nil
}

// newLogger logs JSON in production (for log shippers) and text in dev.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	if cfg.Env == config.Production {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
