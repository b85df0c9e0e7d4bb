package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/internal/pricing"
	"github.com/seed75218f88/credits/internal/ratelimit"
	"github.com/seed75218f88/credits/web"
	"github.com/seed75218f88/credits/web/webtest"
)

// testClock is a movable clock shared by the ledger and the gateway.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

type apiOpts struct {
	config  func(*config.Config) // the test's settings (trial cap, reservation TTL …)
	limiter ratelimit.Limiter    // default: in process
	ownDB   bool                 // a database of its own (the test publishes plans)
}

// apiBundle is a running server with the gateway API, a live and a test key.
type apiBundle struct {
	app     *webtest.App
	gw      *gateway.Service
	ledger  *ledger.Ledger
	pool    *pgxpool.Pool
	clock   *testClock
	live    *apiClient
	sandbox *apiClient
	liveKey gateway.Key
	anon    *apiClient
	t       testing.TB
}

func setupAPI(t testing.TB, o apiOpts) *apiBundle {
	t.Helper()
	b := &apiBundle{clock: &testClock{}, t: t}
	opts := []webtest.Option{webtest.WithOverrides(func(over *app.Overrides) {
		over.Now = b.clock.Now
		over.Limiter = o.limiter
		if over.Limiter == nil {
			over.Limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
		}
	})}
	if o.config != nil {
		opts = append(opts, webtest.WithConfig(o.config))
	}
	if o.ownDB {
		opts = append(opts, webtest.WithOwnDatabase())
	}
	app := webtest.Start(t, opts...)
	b.gw, b.ledger = app.Services.Gateway, app.Services.Ledger
	_, err := app.Services.Pricing.EnsureDefault(context.Background(), "test", pricing.DefaultCreditPriceRMB)
	require.NoError(t, err)
	b.app, b.pool = app, app.Pool
	ctx := context.Background()
	var live, sandbox string
	b.liveKey, live, err = b.gw.Keys.Create(ctx, ledger.ModeLive, "live "+t.Name())
	require.NoError(t, err)
	_, sandbox, err = b.gw.Keys.Create(ctx, ledger.ModeTest, "test "+t.Name())
	require.NoError(t, err)
	b.live = newAPIClient(t, app.URL, live)
	b.sandbox = newAPIClient(t, app.URL, sandbox)
	b.anon = newAPIClient(t, app.URL, "")
	return b
}

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

// openAPIRouter loads web/openapi.yaml once, validated as a document.
func openAPIRouter(t testing.TB) routers.Router {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		var doc *openapi3.T
		doc, specErr = loader.LoadFromData(web.OpenAPI)
		if specErr == nil {
			specErr = doc.Validate(context.Background())
		}
		if specErr == nil {
			doc.Servers = nil // match any host: each test server has its own port
			specRouter, specErr = legacy.NewRouter(doc)
		}
	})
	require.NoError(t, specErr)
	return specRouter
}

// apiClient calls the API with a key and validates every request (unless
// marked deliberately invalid) and every response against the OpenAPI
// document.
type apiClient struct {
	t    testing.TB
	base string
	key  string
	http *http.Client
}

func newAPIClient(t testing.TB, base, key string) *apiClient {
	return &apiClient{t: t, base: base, key: key, http: &http.Client{Timeout: 30 * time.Second}}
}

// apiResp is one answer.
type apiResp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r apiResp) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), string(r.Body))
	return m
}

// Code is the error code of an error answer.
func (r apiResp) Code(t testing.TB) string {
	t.Helper()
	e, ok := r.JSON(t)["error"].(map[string]any)
	require.True(t, ok, "not an error body: %s", r.Body)
	return e["code"].(string)
}

func (c *apiClient) do(method, path string, body any) apiResp {
	return c.send(method, path, body, true)
}

// doInvalid sends a request the document does not allow, validating only the answer.
func (c *apiClient) doInvalid(method, path string, body any) apiResp {
	return c.send(method, path, body, false)
}

func (c *apiClient) send(method, path string, body any, checkRequest bool) apiResp {
	t := c.t
	t.Helper()
	var raw []byte
	if body != nil {
		if s, ok := body.(string); ok {
			raw = []byte(s)
		} else {
			var err error
			raw, err = json.Marshal(body)
			require.NoError(t, err)
		}
	}
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(raw))
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	router := openAPIRouter(t)
	route, params, err := router.FindRoute(req)
	require.NoError(t, err, "%s %s is not in the OpenAPI document", method, path)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if checkRequest {
		require.NoError(t, openapi3filter.ValidateRequest(context.Background(), in), "request %s %s", method, path)
		req.Body = io.NopCloser(bytes.NewReader(raw)) // the validator read it (and filled in defaults)
		req.ContentLength = int64(len(raw))
	}
	res, err := c.http.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(got)
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), out),
		"response %s %s: %d %s", method, path, res.StatusCode, got)
	return apiResp{Status: res.StatusCode, Header: res.Header, Body: got}
}

// account creates an account through the API; ext is made unique per test.
func (b *apiBundle) account(c *apiClient, ext string, body map[string]any) string {
	b.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	r := c.do(http.MethodPut, "/v1/accounts/"+ext, body)
	require.Contains(b.t, []int{200, 201}, r.Status, string(r.Body))
	return ext
}

// grant gives the account credit through the API.
func (b *apiBundle) grant(c *apiClient, ext, amount, key string) map[string]any {
	b.t.Helper()
	r := c.do(http.MethodPost, "/v1/accounts/"+ext+"/grants", map[string]any{
		"amount": amount, "kind": "promo", "reason_code": "signup", "idempotency_key": key})
	require.Equal(b.t, http.StatusCreated, r.Status, string(r.Body))
	return r.JSON(b.t)["lot"].(map[string]any)
}

func (b *apiBundle) balance(c *apiClient, ext string) map[string]any {
	b.t.Helper()
	r := c.do(http.MethodGet, "/v1/accounts/"+ext+"/balance", nil)
	require.Equal(b.t, http.StatusOK, r.Status, string(r.Body))
	return r.JSON(b.t)
}

func (b *apiBundle) reserve(c *apiClient, ext, key string, in, out int) apiResp {
	b.t.Helper()
	return c.do(http.MethodPost, "/v1/reservations", map[string]any{"account": ext, "model": "deepseek-chat",
		"max_input_tokens": in, "max_output_tokens": out, "idempotency_key": key})
}

// uniq makes an external id unique to the test.
func uniq(t *testing.T, s string) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-" + s
}
