package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/relay"
)

// demoRelayKey is the development customer key `credits gateway --demo`
// stores for the demo customer and prints (never in production).
const demoRelayKey = "sk-demo00000000000000000000000000000000000000000000"

// runGateway serves the OpenAI-compatible gateway until SIGINT/SIGTERM.
func runGateway(ctx context.Context, args []string) error {
	return gatewayMain(ctx, args, os.Stdout, os.Stderr, nil)
}

// gatewayMain is runGateway with its outputs given and, for tests, a
// listener to serve on.
func gatewayMain(ctx context.Context, args []string, stdout, logOut io.Writer, ln net.Listener) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	flags := flag.NewFlagSet("gateway", flag.ContinueOnError)
	addr := flags.String("addr", cfg.Relay.Addr, "listen address, host:port (RELAY_ADDR)")
	demo := flags.String("demo", "", "development only: the base URL of a `credits upstreamsim` to add as the demo upstream, with a demo customer key")
	if err := flags.Parse(args); err != nil {
		return err
	}
	logger := newLogger(cfg, logOut)
	pool, err := openMigratedDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	a, err := app.Build(ctx, cfg, pool, logger, app.Overrides{})
	if err != nil {
		return err
	}
	defer a.Close()
	if *demo != "" {
		if cfg.Env == config.Production {
			return errors.New("--demo is for development only")
		}
		if err := demoGateway(ctx, a, *demo, stdout); err != nil {
			return err
		}
	}
	metrics := prometheus.NewRegistry()
	r, err := a.NewRelay(gatewayOverheadMetric(metrics))
	if err != nil {
		return err
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", *addr); err != nil {
			return err
		}
	}
	ready := &readiness{pool: pool, reader: a.Reader}
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.Handle("/", r.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(stdout, "credits gateway: serving the OpenAI-compatible API on http://%s/v1 (Ctrl-C to stop)\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Draining: /readyz fails while streams are still served, until the
	// load balancer has taken the instance out (SHUTDOWN_DRAIN).
	if d := cfg.ShutdownDrain; d > 0 {
		ready.draining.Store(true)
		logger.Info("draining before shutdown", "for", d.String())
		time.Sleep(d)
	}
	// Streams in flight are finished and billed before the process ends.
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// Settles that found no primary (a failover) are still tried for a
	// while: the holds they close would otherwise wait for the sweep.
	if err := r.WaitSettles(sctx); err != nil {
		logger.Warn("shutdown: settles still waiting for a primary are left to the reservation sweep", "err", err)
	}
	return nil
}

// demoGateway adds upstreamsim at simURL as the upstream of every token
// model on the rate card and stores the demo customer's demo key.
func demoGateway(ctx context.Context, a *app.App, simURL string, stdout io.Writer) error {
	card, err := a.Pricing.InForce(ctx, time.Now())
	if err != nil {
		return err
	}
	var models []string
	for _, m := range card.Models {
		if m.BillingType == pricing.BillingToken {
			models = append(models, m.Model+"=sim-chat")
		}
	}
	if _, err := a.RelayUpstreams.Ensure(ctx, relay.UpstreamForm{Name: "demo-upstreamsim", BaseURL: strings.TrimRight(simURL, "/"),
		Secret: "sim-demo-key", Models: strings.Join(models, "\n"), Weight: "1", Priority: "0", TimeoutMS: "60000", Enabled: true}); err != nil {
		return err
	}
	u, err := a.Auth.UserByLogin(ctx, demoCustomerLogin)
	if errors.Is(err, auth.ErrNotFound) {
		return errors.New("--demo needs the demo customer: run `credits seed` first")
	}
	if err != nil {
		return err
	}
	if err := a.RelayKeys.EnsureDemoKey(ctx, u.AccountID, "demo", demoRelayKey); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "credits gateway: demo upstream %s; demo customer key (%s): %s\n", simURL, demoCustomerLogin, demoRelayKey)
	fmt.Fprintf(stdout, "  try: curl -N http://%s/v1/chat/completions -H 'Authorization: Bearer %s' -d '{\"model\":\"deepseek-chat\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'\n",
		a.Config.Relay.Addr, demoRelayKey)
	return nil
}

// readiness answers the gateway's GET /readyz for load balancers: 200 while
// the database answers, or while no primary does but the standby can stand
// in for it (a failover: every instance has lost the primary alike, keys
// and model lists are read from the standby, and billed calls answer 503
// with Retry-After, which the SDKs retry); 503 otherwise, and while the
// gateway drains before a shutdown.
type readiness struct {
	pool     *pgxpool.Pool
	reader   *db.Reader
	draining atomic.Bool
}

func (h *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if h.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "draining\n")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.pool.Ping(ctx); err != nil {
		if h.reader.CanStandIn() {
			_, _ = io.WriteString(w, "ready: no primary, reads from the standby\n")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "database unreachable\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// gatewayOverheadMetric records each stream's time inside the gateway on
// the way to its first token, by stage (relay.Overhead), for /metrics:
// what the gateway adds to its customers' time to first token, apart from
// the upstream's own.
func gatewayOverheadMetric(reg *prometheus.Registry) func(relay.Overhead) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "credits_gateway_first_token_overhead_seconds",
		Help:    "Time a stream spent inside the gateway before its first event reached the client, by stage (before_upstream, hold_wait, first_event, total).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"stage"})
	reg.MustRegister(h)
	before, hold, first, total := h.WithLabelValues("before_upstream"), h.WithLabelValues("hold_wait"),
		h.WithLabelValues("first_event"), h.WithLabelValues("total")
	return func(o relay.Overhead) {
		before.Observe(o.BeforeUpstream.Seconds())
		hold.Observe(o.HoldWait.Seconds())
		first.Observe(o.FirstEvent.Seconds())
		total.Observe(o.Total().Seconds())
	}
}
