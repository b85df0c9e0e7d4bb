package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/relay/upstreamsim"
)

// runUpstreamsim serves the fake OpenAI-compatible upstream.
func runUpstreamsim(ctx context.Context, args []string) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("upstreamsim", flag.ContinueOnError)
	addr := fs.String("addr", cfg.Relay.SimAddr, "listen address (UPSTREAMSIM_ADDR)")
	key := fs.String("key", "sim-demo-key", "API key the simulator requires (empty: none)")
	delay := fs.Duration("delay", 0, "default wait between tokens")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: upstreamsim.New(upstreamsim.Options{APIKey: *key, Delay: *delay}), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Printf("upstreamsim: OpenAI-compatible upstream on http://%s/v1 (key %q)\n", ln.Addr(), *key)
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
