package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/platform/config"
)

// runPaysim serves the payment channel sandbox (WeChat Pay and Alipay) with
// development keys kept in --keys, and prints the settings that point our
// server at it.
func runPaysim(ctx context.Context, args []string) error {
	settings, err := config.Load()
	if err != nil {
		return err
	}
	sim := settings.Paysim
	fs := flag.NewFlagSet("paysim", flag.ContinueOnError)
	addr := fs.String("addr", sim.Addr, "listen address (PAYSIM_ADDR)")
	keys := fs.String("keys", sim.KeyDir, "directory of the development keys (PAYSIM_KEY_DIR)")
	public := fs.String("public-url", "", "URL the pay pages are reached at (PAYSIM_PUBLIC_URL; default http://ADDR)")
	debitLimit := fs.Int64("agreement-debit-limit-fen", 50000, "per-debit limit of agreement payments in fen (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dk, err := paysim.LoadOrCreateDevKeys(*keys)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg := dk.Config()
	cfg.Logger = log
	cfg.AgreementDebitLimitFen = *debitLimit
	base := strings.TrimRight(*public, "/")
	switch {
	case base != "":
	case *addr == sim.Addr:
		base = sim.PublicURL
	default:
		base = "http://" + *addr
	}
	cfg.BaseURL = base
	srv := paysim.New(cfg)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Printf("paysim: listening on %s; settings for the server:\n", base)
	for _, kv := range dk.Env(base) {
		fmt.Println("  " + kv)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
