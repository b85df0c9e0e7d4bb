package web

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/ratelimit"
)

// httpMetrics counts requests and their durations by route template (not by
// raw path, which would grow without bound).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// byRoute caches each label combination's counter and histogram, so a
	// request costs one lookup instead of two label hashings and checks.
	byRoute sync.Map // routeKey -> routeMetrics
}

type routeKey struct {
	method, route string
	code          int
}

type routeMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// knownMethods are the methods counted under their own name; any other
// (a client may send any token) is counted as OTHER, so clients cannot
// grow the label set.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// observe counts one answered request and its duration.
func (m *httpMetrics) observe(method, route string, code int, d time.Duration) {
	if !knownMethods[method] {
		method = "OTHER"
	}
	k := routeKey{method: method, route: route, code: code}
	v, ok := m.byRoute.Load(k)
	if !ok {
		v, _ = m.byRoute.LoadOrStore(k, routeMetrics{
			requests: m.requests.WithLabelValues(method, route, strconv.Itoa(code)),
			duration: m.duration.WithLabelValues(method, route),
		})
	}
	rm := v.(routeMetrics)
	rm.requests.Inc()
	rm.duration.Observe(d.Seconds())
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by method, route and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	reg.MustRegister(
		m.requests, m.duration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// registerLedgerMetrics exports the ledger writers' counts; their quotient
// is the mean batch, which falls when fewer writes wait at the writers.
// registerLimiterMetrics exports ratelimit_shared_store_up when the rate
// limiter has a shared store (REDIS_URL): 1 while limits are shared through
// Redis, 0 while this process limits on its own during an outage.
func registerLimiterMetrics(reg *prometheus.Registry, l ratelimit.Limiter) {
	shared, ok := l.(interface{ SharedStoreUp() bool })
	if !ok {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ratelimit_shared_store_up",
		Help: "1 while rate limits are shared through Redis, 0 while this process falls back to its own buckets.",
	}, func() float64 {
		if shared.SharedStoreUp() {
			return 1
		}
		return 0
	}))
}

func registerLedgerMetrics(reg *prometheus.Registry, l *ledger.Ledger) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "credits_ledger_operations_total",
			Help: "Ledger writes applied by the coalescing writers.",
		}, func() float64 { return float64(l.Stats().Operations) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "credits_ledger_transactions_total",
			Help: "Transactions the ledger's coalescing writers took for those writes.",
		}, func() float64 { return float64(l.Stats().Transactions) }),
	)
	// Calls the enforcement switch's shadow mode let through, by the
	// refusal they would have been (README "Enforcement switch").
	for _, code := range ledger.ShadowCodes {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "credits_shadow_refusals_total",
			Help:        "Calls shadow mode let through that enforcement would have refused, by refusal code.",
			ConstLabels: prometheus.Labels{"code": code},
		}, func() float64 { return float64(l.ShadowCount(code)) }))
	}
}

// registerReaderMetrics exposes where page reads went (README "Reads from
// the standby"): reads by server, standby reads that fell back to the
// primary, and the standby's lag at the last probe.
func registerReaderMetrics(reg *prometheus.Registry, r *db.Reader) {
	for _, server := range []string{"standby", "primary"} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "credits_db_reads_total",
			Help:        "Reads routed by the read router (db.Reader), by the server they went to.",
			ConstLabels: prometheus.Labels{"server": server},
		}, func() float64 {
			st := r.Stats()
			if server == "standby" {
				return float64(st.StandbyReads)
			}
			return float64(st.PrimaryReads)
		}))
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "credits_db_standby_fallbacks_total",
			Help: "Standby reads that failed for want of the standby and ran on the primary.",
		}, func() float64 { return float64(r.Stats().Fallbacks) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "credits_db_standby_lag_seconds",
			Help: "The standby's replay lag at the last probe.",
		}, func() float64 { return r.Stats().Lag.Seconds() }),
	)
}
