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
	"path/filepath"
	"strings"
	"time"

	"github.com/seed75218f88/credits/internal/payments/paysim"
	"github.com/seed75218f88/credits/internal/platform/db"
)

// runPaysim serves the payment channel sandbox (WeChat Pay and Alipay) with
// development keys kept in --keys, and prints the settings that point our
// server at it.
func runPaysim(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("paysim", flag.ContinueOnError)
	def := os.Getenv("PAYSIM_ADDR")
	if def == "" {
		def = "127.0.0.1:8090"
	}
	addr := fs.String("addr", def, "listen address (PAYSIM_ADDR)")
	keys := fs.String("keys", paysimEnvOr("PAYSIM_KEY_DIR", filepath.Join(db.ProjectRoot(), ".data", "paysim")), "directory of the development keys (PAYSIM_KEY_DIR)")
	public := fs.String("public-url", os.Getenv("PAYSIM_PUBLIC_URL"), "URL the pay pages are reached at (default http://ADDR)")
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
	base := strings.TrimRight(*public, "/")
	if base == "" {
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

func paysimEnvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
