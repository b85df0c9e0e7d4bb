package web

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// OpenAPI is the OpenAPI 3.1 description of the gateway API, served at
// GET /api/openapi.yaml; the API tests validate every request and response
// they see against it.
//
//go:embed openapi.yaml
var OpenAPI []byte

const apiKeyContext = "api_key"

// apiRoutes registers the gateway API: /v1/… behind a service key, and its
// OpenAPI description. Without a gateway (Deps.Gateway nil) only the
// description is served.
func (s *Server) apiRoutes() {
	named(s.Echo.GET("/api/openapi.yaml", s.APIOpenAPI), "api.openapi")
	if s.Gateway == nil {
		return
	}
	g := s.Echo.Group("/v1", s.apiAuth)
	named(g.PUT("/accounts/:external_id", s.APIPutAccount), "api.account.put")
	named(g.POST("/accounts/:external_id/grants", s.APIGrant), "api.account.grant")
	named(g.POST("/accounts/:external_id/transfers", s.APITransfer), "api.account.transfer")
	named(g.GET("/accounts/:external_id/balance", s.APIBalance), "api.account.balance")
	named(g.GET("/accounts/:external_id/ledger", s.APILedger), "api.account.ledger")
	named(g.GET("/accounts/:external_id/subscription", s.APISubscription), "api.account.subscription")
	named(g.GET("/accounts/:external_id/entitlements", s.APIEntitlements), "api.account.entitlements")
	named(g.POST("/accounts/:external_id/portal-sessions", s.APIPortalSession), "api.account.portal_session")
	named(g.GET("/accounts/:external_id/sessions/:session_id", s.APISession), "api.account.session")
	named(g.POST("/accounts/:external_id/webhooks", s.APICreateWebhook), "api.account.webhook.create")
	named(g.GET("/accounts/:external_id/webhooks", s.APIWebhooks), "api.account.webhooks")
	named(g.DELETE("/accounts/:external_id/webhooks/:id", s.APIDeleteWebhook), "api.account.webhook.delete")
	named(g.POST("/reservations", s.APIReserve), "api.reservation.create")
	named(g.POST("/reservations/:id/commit", s.APICommit), "api.reservation.commit")
	named(g.POST("/reservations/:id/release", s.APIRelease), "api.reservation.release")
	named(g.POST("/usage/events", s.APIUsage), "api.usage")
	named(g.GET("/rate-card", s.APIRateCard), "api.rate_card")
}

// apiAuth checks the Bearer service key and puts it in the context.
func (s *Server) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secret, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		if !ok {
			return gateway.ErrUnauthorized
		}
		key, err := s.Gateway.Keys.Authenticate(c.Request().Context(), strings.TrimSpace(secret))
		if err != nil {
			return err
		}
		c.Set(apiKeyContext, key)
		return next(c)
	}
}

func apiKey(c echo.Context) gateway.Key { return c.Get(apiKeyContext).(gateway.Key) }

// bodyBuffers hold request bodies while they are decoded; buffers grown
// past pooledBodyCap (a usage batch can be large) are left to the GC.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const pooledBodyCap = 64 << 10

// bindJSON decodes the request body, which must be one JSON value, into v;
// an empty body leaves v as is. A body over BodyLimit keeps its 413.
func bindJSON(c echo.Context, v any) error {
	req := c.Request()
	if req.ContentLength == 0 {
		return nil
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= pooledBodyCap {
			bodyBuffers.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(req.Body); err != nil {
		if he := (*echo.HTTPError)(nil); errors.As(err, &he) {
			return he
		}
		return gateway.InvalidField("body", "could not read the body: "+err.Error())
	}
	if buf.Len() == 0 {
		return nil
	}
	if escapesNUL(buf.Bytes()) {
		return gateway.InvalidField("body", `text may not hold the NUL character (\u0000)`)
	}
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		return gateway.InvalidField("body", "not valid JSON for this endpoint: "+err.Error())
	}
	return nil
}

// escapesNUL reports whether a JSON text holds the escape \u0000 (a raw
// NUL byte is not valid JSON already). PostgreSQL's text cannot store the
// character, so a body carrying one in any string would fail at the
// database as a 500; a backslash escaped before "u0000" is ordinary text.
func escapesNUL(b []byte) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u0000`))
		if j < 0 {
			return false
		}
		at := i + j
		n := 0
		for k := at - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		i = at + 1
	}
}

// jsonAppender is an answer that writes its own JSON (the hot endpoints').
type jsonAppender interface{ AppendJSON([]byte) []byte }

// writeJSON answers v as c.JSON would (same bytes, trailing newline and
// Content-Type), without reflection; ?pretty and debug mode still indent
// through c.JSON.
func writeJSON(c echo.Context, status int, v jsonAppender) error {
	if c.Request().URL.RawQuery != "" || c.Echo().Debug {
		return c.JSON(status, v)
	}
	b := v.AppendJSON(make([]byte, 0, 192))
	return c.Blob(status, echo.MIMEApplicationJSON, append(b, '\n'))
}

// APIOpenAPI serves the OpenAPI description.
func (s *Server) APIOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml; charset=utf-8", OpenAPI)
}

// APIPutAccount creates or updates an account: 201 when created, else 200.
func (s *Server) APIPutAccount(c echo.Context) error {
	var in gateway.AccountInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	v, created, err := s.Gateway.PutAccount(c.Request().Context(), apiKey(c), c.Param("external_id"), in)
	if err != nil {
		return err
	}
	if created {
		return c.JSON(http.StatusCreated, v)
	}
	return c.JSON(http.StatusOK, v)
}

// APIGrant adds the platform's promo or plan credit: 201 with the lot.
func (s *Server) APIGrant(c echo.Context) error {
	var in gateway.GrantInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	lot, err := s.Gateway.Grant(c.Request().Context(), apiKey(c), c.Param("external_id"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"lot": lot})
}

// APITransfer moves allocation from the account to another of its
// enterprise: 201 with both allocations before and after (the same answer
// on a retry).
func (s *Server) APITransfer(c echo.Context) error {
	var in gateway.TransferInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	v, err := s.Gateway.Transfer(c.Request().Context(), apiKey(c), c.Param("external_id"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

// APIBalance answers the account's balance, lots and expiry schedule.
func (s *Server) APIBalance(c echo.Context) error {
	b, err := s.Gateway.Balance(c.Request().Context(), apiKey(c), c.Param("external_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, b)
}

// APISubscription answers the account's plan in force, or
// {"subscription": null} when it has none.
func (s *Server) APISubscription(c echo.Context) error {
	v, err := s.Gateway.Subscription(c.Request().Context(), apiKey(c), c.Param("external_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// APIEntitlements answers the account's product entitlements.
func (s *Server) APIEntitlements(c echo.Context) error {
	v, err := s.Gateway.Entitlements(c.Request().Context(), apiKey(c), c.Param("external_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// APILedger answers one page of the account's events, newest first.
func (s *Server) APILedger(c echo.Context) error {
	var cursor int64
	var limit int
	var err error
	if v := c.QueryParam("cursor"); v != "" {
		if cursor, err = strconv.ParseInt(v, 10, 64); err != nil || cursor <= 0 {
			return gateway.InvalidField("cursor", "a next_cursor value from a previous page")
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit <= 0 {
			return gateway.InvalidField("limit", "1 to 200")
		}
	}
	p, err := s.Gateway.Ledger(c.Request().Context(), apiKey(c), c.Param("external_id"), cursor, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// APIPortalSession issues a one-time portal sign-in link: 201.
func (s *Server) APIPortalSession(c echo.Context) error {
	p, err := s.Gateway.CreatePortalSession(c.Request().Context(), apiKey(c), c.Param("external_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, p)
}

// APIReserve holds credit for a streaming call: 201, or 429 with Retry-After.
func (s *Server) APIReserve(c echo.Context) error {
	var in gateway.ReserveInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	r, err := s.Gateway.Reserve(c.Request().Context(), apiKey(c), in)
	if rl := (*gateway.RateLimitedError)(nil); errors.As(err, &rl) {
		c.Response().Header().Set("Retry-After", strconv.Itoa(rl.RetryAfterSeconds()))
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusCreated, r)
}

// APICommit charges a reservation.
func (s *Server) APICommit(c echo.Context) error {
	var in gateway.CommitInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	r, err := s.Gateway.Commit(c.Request().Context(), apiKey(c), c.Param("id"), in)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, r)
}

// APIRelease frees a reservation.
func (s *Server) APIRelease(c echo.Context) error {
	r, err := s.Gateway.Release(c.Request().Context(), apiKey(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// APIUsage charges a batch of usage events, each on its own; with a usage
// stream (NATS_URL) it queues them instead and answers 202.
func (s *Server) APIUsage(c echo.Context) error {
	var in gateway.UsageBatch
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if s.UsageStream != nil {
		return s.apiUsageQueued(c, in)
	}
	r, err := s.Gateway.IngestUsage(c.Request().Context(), apiKey(c), in)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	for i := range r.Rejected {
		r.Rejected[i].Message = i18n.T(ctx, "error.api.reject."+r.Rejected[i].Code)
	}
	return c.JSON(http.StatusOK, r)
}

// apiUsageQueued stores the batch in the usage stream: 202 with each
// event's id and state.
func (s *Server) apiUsageQueued(c echo.Context, in gateway.UsageBatch) error {
	ctx := c.Request().Context()
	r, err := s.UsageStream.Publish(ctx, apiKey(c), in)
	if err != nil {
		return err
	}
	for i := range r.Rejected {
		r.Rejected[i].Message = i18n.T(ctx, "error.api.reject."+r.Rejected[i].Code)
	}
	return c.JSON(http.StatusAccepted, r)
}

// APIRateCard answers the rate card in force, or with ?account= the
// prices that account's calls are charged at now (its own card's).
func (s *Server) APIRateCard(c echo.Context) error {
	ctx := c.Request().Context()
	var r gateway.RateCardView
	var err error
	if acct := c.QueryParam("account"); acct != "" {
		r, err = s.Gateway.RateCardFor(ctx, apiKey(c), acct)
	} else {
		r, err = s.Gateway.RateCard(ctx)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// APISession sums the calls of one session of the account.
func (s *Server) APISession(c echo.Context) error {
	v, err := s.Gateway.Session(c.Request().Context(), apiKey(c), c.Param("external_id"), c.Param("session_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// APICreateWebhook registers a webhook endpoint: 201 with its secret, shown once.
func (s *Server) APICreateWebhook(c echo.Context) error {
	var in gateway.WebhookInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	w, err := s.Gateway.CreateWebhook(c.Request().Context(), apiKey(c), c.Param("external_id"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, w)
}

// APIWebhooks lists the account's webhook endpoints (without secrets).
func (s *Server) APIWebhooks(c echo.Context) error {
	ws, err := s.Gateway.Webhooks(c.Request().Context(), apiKey(c), c.Param("external_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"webhooks": ws})
}

// APIDeleteWebhook stops an endpoint from receiving events: 204.
func (s *Server) APIDeleteWebhook(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return gateway.ErrNotFound
	}
	if err := s.Gateway.DeleteWebhook(c.Request().Context(), apiKey(c), c.Param("external_id"), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
