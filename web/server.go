// Package web is the HTTP side of the platform: the echo server, its
// middleware, the named routes, the handlers (one file per resource) and the
// one table that maps domain errors to HTTP answers.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/autotopup"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/budget"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/journal"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/products"
	"github.com/seed75218f88/credits/internal/referral"
	"github.com/seed75218f88/credits/internal/relay"
	"github.com/seed75218f88/credits/internal/settings"
	"github.com/seed75218f88/credits/internal/signup"
	"github.com/seed75218f88/credits/internal/statement"
	"github.com/seed75218f88/credits/internal/team"
	"github.com/seed75218f88/credits/internal/usage"
	"github.com/seed75218f88/credits/internal/usagestream"
	"github.com/seed75218f88/credits/internal/verification"
	"github.com/seed75218f88/credits/internal/webhook"
)

// Deps is what New needs: every service, built once by the composition
// root (internal/app) for `credits serve` and the test harness alike. New
// refuses a missing one rather than building a second copy.
type Deps struct {
	Config config.Config
	Pool   *pgxpool.Pool
	// Logger receives the request log and errors.
	Logger *slog.Logger
	I18n   *i18n.Bundle

	Ledger *ledger.Ledger
	Auth   *auth.Service
	Signup *signup.Service
	// Referrals are the invite codes and the inviters' rewards.
	Referrals    *referral.Service
	Usage        *usage.Store
	Gateway      *gateway.Service
	Payments     *payments.Service
	Backoffice   *backoffice.Service
	Verification *verification.Service
	Invoicing    *invoicing.Service
	Webhooks     *webhook.Service
	// Settings are the business settings of the settings screen.
	Settings *settings.Store
	// Jobs enqueues background jobs (password-reset mail) inside a caller's
	// transaction.
	Jobs jobs.Inserter
	// Plans is the plan catalogue; Subscriptions the accounts' plans.
	Plans         *plans.Service
	Subscriptions *plans.Subscriptions
	// Quotas reads plan quota windows and billing preferences.
	Quotas *plans.Quotas
	// Products are the one-time products and their entitlements.
	Products *products.Service
	// AutoTopUp is auto top-up by agreement payments.
	AutoTopUp *autotopup.Service
	// Budgets are customers' spending budgets.
	Budgets *budget.Service
	// Access holds the model allow-lists (internal/access).
	Access *access.Service
	// RelayKeys are the customers' API keys of the OpenAI-compatible
	// gateway (portal); RelayUpstreams its upstreams (back office).
	RelayKeys      *relay.Keys
	RelayUpstreams *relay.Upstreams
	// Team is the members of enterprise accounts: the portal's roles,
	// account switch and team page.
	Team *team.Service
	// UsageStream queues usage events in NATS JetStream (nil: charged in
	// the request).
	UsageStream *usagestream.Stream
	// ViewCache is how long portal pages may reuse what they read from the
	// ledger while its head is unchanged (see viewCache); 0 means
	// DefaultViewCache, negative turns the caches off (for measurements).
	ViewCache time.Duration
	// Journal is the book-keeping journal export (back office).
	Journal *journal.Service
	// CreditLines are the enterprises' credit lines and their bills.
	CreditLines *creditline.Service
	// Invalidation carries sign-outs to every process (nil: this process
	// only; others obey within the session cache's trust).
	Invalidation *invalidate.Hub
	// Reader routes staleness-tolerant page reads to the standby (nil or
	// without a standby: every read on the primary).
	Reader *db.Reader
}

// check names the first missing dependency.
func (d Deps) check() error {
	for _, m := range []struct {
		name    string
		missing bool
	}{
		{"Pool", d.Pool == nil}, {"Logger", d.Logger == nil}, {"I18n", d.I18n == nil}, {"Ledger", d.Ledger == nil},
		{"Auth", d.Auth == nil}, {"Signup", d.Signup == nil}, {"Usage", d.Usage == nil}, {"Gateway", d.Gateway == nil},
		{"Payments", d.Payments == nil}, {"Backoffice", d.Backoffice == nil}, {"Verification", d.Verification == nil},
		{"Invoicing", d.Invoicing == nil}, {"Webhooks", d.Webhooks == nil}, {"Jobs", d.Jobs == nil},
		{"Settings", d.Settings == nil}, {"Plans", d.Plans == nil}, {"Subscriptions", d.Subscriptions == nil},
		{"Quotas", d.Quotas == nil}, {"Products", d.Products == nil}, {"Budgets", d.Budgets == nil},
		{"Access", d.Access == nil}, {"Referrals", d.Referrals == nil},
		{"RelayKeys", d.RelayKeys == nil}, {"RelayUpstreams", d.RelayUpstreams == nil}, {"Team", d.Team == nil}, {"Journal", d.Journal == nil}, {"CreditLines", d.CreditLines == nil},
	} {
		if m.missing {
			return fmt.Errorf("web: New needs Deps.%s (build the services with internal/app)", m.name)
		}
	}
	return nil
}

// Server holds the dependencies every handler uses. Handlers are methods on
// it (func (s *Server) Home(c echo.Context) error), one file per resource.
type Server struct {
	Echo     *echo.Echo
	Config   config.Config
	Pool     *pgxpool.Pool
	Logger   *slog.Logger
	Sessions *scs.SessionManager
	I18n     *i18n.Bundle
	// Metrics is the Prometheus registry served at /metrics; areas may
	// register their own collectors on it.
	Metrics *prometheus.Registry
	// Gateway is the gateway API's domain.
	Gateway *gateway.Service
	// UsageStream queues usage events (nil: POST /v1/usage/events charges
	// them in the request).
	UsageStream *usagestream.Stream
	// sessionCache is Sessions.Store, stopped when Serve ends.
	sessionCache *SessionCache
	// usageDesk is the back office's dead-letter desk (nil without a stream).
	usageDesk *usagestream.Desk

	errors  []ErrorMapping
	metrics *httpMetrics
	// draining is set on shutdown while SHUTDOWN_DRAIN runs: /readyz fails.
	draining atomic.Bool
	portal   *portal
	kyc      *kycArea // verification and invoices (web/portal_verification.go)
	pay      *payArea
	plans    *plansArea
	// products is the one-time product catalogue (web/portal_products.go).
	products *products.Service
	// autoTopUp is auto top-up by agreement payments (web/autotopup.go).
	autoTopUp *autotopup.Service
	// budgets are customers' spending budgets (web/portal_budgets.go).
	budgets *budget.Service
	// access holds the model allow-lists (web/access.go).
	access *access.Service
	// relayKeys and upstreams are the OpenAI-compatible gateway's
	// (web/portal_keys.go, web/admin_upstreams.go).
	relayKeys *relay.Keys
	upstreams *relay.Upstreams
	// referrals are the invite codes and rewards (web/portal_invite.go).
	referrals *referral.Service
	// team is the members of enterprise accounts (web/portal_team.go).
	team *team.Service
	// statements are the monthly statements (web/portal_statements.go).
	statements *statement.Service
	// creditLines are the credit lines and bills (web/portal_bills.go).
	creditLines *creditline.Service
	// routeNames names each route by "METHOD path" (routes), for the
	// portal's authorization middleware (web/portal_authz.go).
	routeNames map[string]string
	// adminTable lists every /admin route with its roles (adminRoute).
	adminTable []AdminRoute
	admin      *adminDeps
	// reader pins page reads to the standby or the primary (read_routing.go).
	reader *db.Reader
	// pages is the pool the handlers' own stores are given: the primary,
	// whose reads in a pinned page stand in on the standby while no primary
	// answers (db.Reader.Failover).
	pages db.Querier
}

// failoverPool is d's pool as the domain services are given it
// (db.Reader.Failover), or the pool itself without a Reader.
func failoverPool(d Deps) db.Querier {
	if d.Reader == nil {
		return d.Pool
	}
	return d.Reader.Failover()
}

// New builds the server: middleware, error handler and every route.
func New(d Deps) (*Server, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	s := &Server{
		Echo:        echo.New(),
		Config:      d.Config,
		Pool:        d.Pool,
		Logger:      d.Logger,
		I18n:        d.I18n,
		Gateway:     d.Gateway,
		UsageStream: d.UsageStream,
		Metrics:     prometheus.NewRegistry(),
		errors:      append([]ErrorMapping(nil), errorTable...),
		reader:      d.Reader,
		pages:       failoverPool(d),
	}
	// pgxstore's own cleanup goroutine races with its StopCleanup, so Serve
	// runs the cleanup instead (sweepSessions).
	s.Sessions = scs.New()
	// A session that could not be written (its answer is not sent): said
	// in the log, and answered "try again" when no primary could take it
	// (a failover's promotion), as every other such error is.
	s.Sessions.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		s.Logger.Error("session: save failed", "path", r.URL.Path, "error", err.Error())
		if db.NoPrimary(err) {
			w.Header().Set("Retry-After", strconv.Itoa(noPrimaryRetryAfter))
			http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
			return
		}
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	}
	s.Sessions.Lifetime = 7 * 24 * time.Hour
	sessions := NewSessionCache(pgxstore.NewWithCleanupInterval(d.Pool, 0))
	if d.Invalidation != nil {
		sessions.Share(d.Pool, d.Invalidation, s.Sessions.Lifetime, s.Logger)
	}
	if d.Reader.Replicated() {
		sessions.StandIn(d.Reader)
	}
	s.Sessions.Store = sessions
	s.sessionCache = sessions
	s.Sessions.IdleTimeout = 24 * time.Hour
	s.Sessions.Cookie.Name = "credits_session"
	s.Sessions.Cookie.HttpOnly = true
	s.Sessions.Cookie.SameSite = http.SameSiteLaxMode
	s.Sessions.Cookie.Secure = d.Config.Env == config.Production

	s.Echo.IPExtractor = ipExtractor(d.Config.TrustedProxies)
	s.Echo.HideBanner = true
	s.Echo.HidePort = true
	s.Echo.HTTPErrorHandler = s.handleError
	s.metrics = newHTTPMetrics(s.Metrics)
	registerLedgerMetrics(s.Metrics, d.Ledger)
	registerLimiterMetrics(s.Metrics, d.Gateway.Limiter())
	if d.Reader.Replicated() {
		registerReaderMetrics(s.Metrics, d.Reader)
	}
	s.portal = newPortal(d, func(token string) string { return s.Config.BaseURL + s.URL("auth.reset", token) })
	if d.UsageStream != nil {
		s.usageDesk = usagestream.NewDesk(d.UsageStream, s.pages)
	}
	s.admin = &adminDeps{bo: d.Backoffice, auth: d.Auth, ledger: d.Ledger, settings: d.Settings, journal: d.Journal}
	s.kyc = &kycArea{verification: d.Verification, invoicing: d.Invoicing}
	s.pay = &payArea{svc: d.Payments, verify: d.Verification, ledger: d.Ledger}
	s.autoTopUp = d.AutoTopUp
	s.budgets = d.Budgets
	s.referrals = d.Referrals
	s.access = d.Access
	s.relayKeys, s.upstreams = d.RelayKeys, d.RelayUpstreams
	s.team = d.Team
	s.statements = &statement.Service{Pool: s.pages, Ledger: d.Ledger, CreditLines: d.CreditLines}
	s.creditLines = d.CreditLines
	s.plans = &plansArea{catalogue: d.Plans, subs: d.Subscriptions, ledger: d.Ledger, quotas: d.Quotas}
	s.products = d.Products
	s.middleware()
	s.routes()
	return s, nil
}

// URL builds the path of a named route, e.g. s.URL("portal.usage").
func (s *Server) URL(name string, params ...any) string { return s.Echo.Reverse(name, params...) }

// Listen opens the listening socket, failing with one clear line when the
// address is taken or invalid.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		return ln, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("cannot listen on %s: the address is already in use; stop the other server or choose another address with ADDR or serve --addr", addr)
	default:
		return nil, fmt.Errorf("cannot listen on %s (%s): set ADDR or serve --addr to a host:port such as 127.0.0.1:8080", addr, errorText(err))
	}
}

func errorText(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// Serve answers requests on ln until ctx is cancelled (SIGTERM in `credits
// serve`), then shuts down gracefully, letting requests in flight finish
// within Config.ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go s.sweepSessions(sweepCtx, 10*time.Minute)
	hs := &http.Server{
		Handler:           s.Echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	// Draining: /readyz fails while requests are still served, until the
	// load balancer has taken the instance out (SHUTDOWN_DRAIN).
	if d := s.Config.ShutdownDrain; d > 0 {
		s.draining.Store(true)
		s.Logger.Info("draining before shutdown", "for", d.String())
		time.Sleep(d)
	}
	timeout := s.Config.ShutdownTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.sessionCache.Stop()
	if err != nil {
		return fmt.Errorf("web: shutdown: %w", err)
	}
	return nil
}

// sweepSessions deletes expired sessions every interval until ctx ends.
func (s *Server) sweepSessions(ctx context.Context, interval time.Duration) {
	const sweep = `DELETE FROM sessions WHERE expiry < now()`
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := s.Pool.Exec(ctx, sweep); err != nil && ctx.Err() == nil {
				s.Logger.Warn("deleting expired sessions failed", "error", err.Error())
			}
		}
	}
}
