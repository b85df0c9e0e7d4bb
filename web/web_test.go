package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/views/components"
	"github.com/seed75218f88/credits/web"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestMain runs one web suite at a time per machine: several worktrees
// running it at once on a small machine starve each other's Chromium until
// their runs time out. The lock dies with the process; after a bounded wait
// a run goes ahead anyway. A run of chosen tests (-run) is small and goes
// ahead at once, so a developer's targeted run does not wait for CI's.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.run"); f == nil || f.Value.String() == "" {
		waitForOtherWebSuites(12 * time.Minute)
	}
	dbtest.Main(m)
}

// suiteLock is kept referenced: a collected *os.File closes and unlocks.
var suiteLock *os.File

func waitForOtherWebSuites(limit time.Duration) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "credits-web-suite.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return
	}
	for start := time.Now(); time.Since(start) < limit; time.Sleep(time.Second) {
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			suiteLock = f // held until the process exits
			return
		}
	}
}

func TestHomePageSpeaksChineseByDefaultAndEnglishOnRequest(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t)

	t.Run("DefaultIsChinese", func(t *testing.T) {
		p := webtest.NewClient(t, app.URL).Get("/")
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, "预付费点数，按调用计费", p.TestID("home-title"))
		lang, _ := p.Doc.Find("html").Attr("lang")
		require.Equal(t, "zh-CN", lang)
		require.Equal(t, "登录", p.TestID("nav-auth.signin"), "a visitor is offered sign-in")
		require.Equal(t, "注册", p.TestID("nav-auth.signup"))
		require.Empty(t, p.Doc.Find(`[data-testid="nav-portal.usage"]`).Nodes, "and not the portal's pages")
	})
	t.Run("AcceptLanguageEnglish", func(t *testing.T) {
		c := webtest.NewClient(t, app.URL)
		c.Header.Set("Accept-Language", "en-US,en;q=0.9")
		p := c.Get("/")
		require.Equal(t, "Prepaid credits, billed per call", p.TestID("home-title"))
		require.Equal(t, "Sign in", p.TestID("nav-auth.signin"))
	})
	t.Run("SwitchWinsOverAcceptLanguage", func(t *testing.T) {
		c := webtest.NewClient(t, app.URL)
		c.Header.Set("Accept-Language", "zh-CN")
		home := c.Get("/")
		href, ok := home.Doc.Find(`[data-testid="lang-en"]`).Attr("href")
		require.True(t, ok)
		p := c.Get(href)
		require.Equal(t, "/", p.URL.Path, "the switch returns to the page it was clicked on")
		require.Equal(t, "Prepaid credits, billed per call", p.TestID("home-title"))
		back := c.Get("/lang/zh-CN?next=/")
		require.Equal(t, "预付费点数，按调用计费", back.TestID("home-title"))
	})
	t.Run("SwitchStaysOnThisSite", func(t *testing.T) {
		c := webtest.NewClient(t, app.URL)
		c.FollowRedirects = false
		for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
			p := c.Get("/lang/en?next=" + url.QueryEscape(next))
			require.Equal(t, http.StatusSeeOther, p.Status)
			require.Equal(t, "/", p.Header.Get("Location"), next)
		}
		require.Equal(t, http.StatusNotFound, c.Get("/lang/fr").Status)
	})
}

func TestPagesCarrySecurityHeadersAndNoInlineCode(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t)
	p := webtest.NewClient(t, app.URL).Get("/")
	csp := p.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "style-src 'self'")
	require.NotContains(t, csp, "unsafe-inline")
	require.Equal(t, "nosniff", p.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "DENY", p.Header.Get("X-Frame-Options"))
	require.NotEmpty(t, p.Header.Get("X-Request-Id"))
	p.Doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		src, ok := s.Attr("src")
		require.True(t, ok && strings.HasPrefix(src, "/static/"), "every script is one of our files")
		require.Empty(t, strings.TrimSpace(s.Text()), "no inline script")
	})
	require.Zero(t, p.Doc.Find("style, [style]").Length(), "no inline styles")
	require.Zero(t, p.Doc.Find(`[href^="http"], [src^="http"]`).Length(), "nothing from a CDN")
	token, _ := p.Doc.Find(`meta[name="csrf-token"]`).Attr("content")
	require.NotEmpty(t, token)
}

func TestStaticFilesAreVersionedAndCached(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t)
	c := webtest.NewClient(t, app.URL)
	home := c.Get("/")
	for _, sel := range []string{`link[href*="pico"]`, `link[href*="app.css"]`, `script[src*="htmx"]`, `script[src*="app.js"]`} {
		u, ok := home.Doc.Find(sel).Attr("href")
		if !ok {
			u, ok = home.Doc.Find(sel).Attr("src")
		}
		require.True(t, ok, sel)
		p := c.Get(u)
		require.Equal(t, http.StatusOK, p.Status, u)
		require.Contains(t, p.Header.Get("Cache-Control"), "immutable", u)
		require.NotEmpty(t, p.Body)
		if strings.Contains(u, ".css") {
			require.Contains(t, p.Header.Get("Content-Type"), "text/css")
		}
		req := c.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("If-None-Match", p.Header.Get("ETag"))
		require.Equal(t, http.StatusNotModified, c.Do(req).Status, "revalidation answers 304")
	}
	require.Contains(t, c.Get("/static/app.css").Header.Get("Cache-Control"), "max-age=300", "an unversioned URL is cached briefly")
	require.Equal(t, http.StatusNotFound, c.Get("/static/nope.js").Status)
}

func TestProbesAndMetrics(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t)
	c := webtest.NewClient(t, app.URL)
	require.Equal(t, "ok", strings.TrimSpace(c.Get("/healthz").Body))
	ready := c.Get("/readyz")
	require.Equal(t, http.StatusOK, ready.Status)
	require.Equal(t, "ready", strings.TrimSpace(ready.Body))
	c.Get("/")
	c.Get("/no-such-page")
	c.Do(c.NewRequest("BREW", "/no-such-page", nil))
	m := c.Get("/metrics")
	require.Equal(t, http.StatusOK, m.Status)
	require.Contains(t, m.Body, `http_requests_total{code="200",method="GET",route="/"}`)
	require.Contains(t, m.Body, `http_requests_total{code="404",method="GET",route="unmatched"}`)
	require.Contains(t, m.Body, `method="OTHER",route="unmatched"}`, "an unknown method is not a label of its own")
	require.NotContains(t, m.Body, `BREW`)
	require.Contains(t, m.Body, `http_request_duration_seconds_bucket{method="GET",route="/"`)
}

var errTestDomain = errors.New("test: not enough credits")

// testRoutes adds routes that exercise the error handler, CSRF and render
// helpers; they are registered before the first request.
func testRoutes(s *web.Server) {
	s.MapError(errTestDomain, http.StatusPaymentRequired, "insufficient_credits", "error.conflict")
	s.Echo.GET("/boom", func(echo.Context) error { return errors.New("database exploded") })
	s.Echo.GET("/panic", func(echo.Context) error { panic("handler panicked") })
	s.Echo.GET("/v1/domain", func(echo.Context) error { return fmt.Errorf("charge: %w", errTestDomain) })
	s.Echo.GET("/domain", func(echo.Context) error { return fmt.Errorf("charge: %w", errTestDomain) })
	s.Echo.POST("/form", func(c echo.Context) error { return c.String(http.StatusOK, "saved "+c.FormValue("name")) })
	s.Echo.POST("/v1/form", func(c echo.Context) error { return c.String(http.StatusOK, "api ok") })
	s.Echo.POST("/redirect", func(c echo.Context) error { return web.HXRedirect(c, "/") })
	s.Echo.GET("/render", func(c echo.Context) error {
		return web.Render(c, http.StatusOK, components.Flash(components.FlashInfo, "whole page"), components.Flash(components.FlashInfo, "just the part"))
	})
}

func TestErrorsAreAnsweredAsJSONPartialOrPage(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t, webtest.WithServer(testRoutes))

	t.Run("APIGetsJSON", func(t *testing.T) {
		_, key, err := app.Services.Gateway.Keys.Create(context.Background(), ledger.ModeTest, "errors "+t.Name())
		require.NoError(t, err)
		c := webtest.NewClient(t, app.URL)
		c.Header.Set("Accept-Language", "en")
		c.Header.Set("Authorization", "Bearer "+key)
		p := c.Get("/v1/no-such-thing")
		require.Equal(t, http.StatusNotFound, p.Status)
		require.Contains(t, p.Header.Get("Content-Type"), "application/json")
		var body web.APIError
		require.NoError(t, json.Unmarshal([]byte(p.Body), &body))
		require.Equal(t, "not_found", body.Error.Code)
		require.Equal(t, "This page does not exist.", body.Error.Message)
	})
	t.Run("DomainErrorUsesTheTable", func(t *testing.T) {
		c := webtest.NewClient(t, app.URL)
		p := c.Get("/v1/domain")
		require.Equal(t, http.StatusPaymentRequired, p.Status)
		require.Contains(t, p.Body, `"code":"insufficient_credits"`)
		page := c.Get("/domain")
		require.Equal(t, http.StatusPaymentRequired, page.Status)
		require.Contains(t, page.TestID("error"), "该操作与当前状态冲突")
	})
	t.Run("HTMXGetsAnAlertInFlash", func(t *testing.T) {
		p := webtest.NewClient(t, app.URL).HTMX(http.MethodGet, "/no-such-page", nil)
		require.Equal(t, http.StatusNotFound, p.Status)
		require.Equal(t, "#flash", p.Header.Get("HX-Retarget"))
		require.NotContains(t, p.Body, "<html")
		require.Contains(t, p.TestID("error"), "找不到该页面")
	})
	t.Run("BrowserGetsAFullPage", func(t *testing.T) {
		p := webtest.NewClient(t, app.URL).Get("/no-such-page")
		require.Equal(t, http.StatusNotFound, p.Status)
		require.Equal(t, 1, p.Doc.Find(`[data-testid="error-page"]`).Length())
		require.Contains(t, p.TestID("error"), "找不到该页面")
		require.Contains(t, p.Text("title"), "出错了", "the page keeps the layout")
		require.Equal(t, 1, p.Doc.Find(`[data-testid="lang-switch"]`).Length())
	})
	t.Run("UnknownErrorIs500WithRequestID", func(t *testing.T) {
		p := webtest.NewClient(t, app.URL).Get("/boom")
		require.Equal(t, http.StatusInternalServerError, p.Status)
		rid := p.Header.Get("X-Request-Id")
		require.NotEmpty(t, rid)
		require.Contains(t, p.TestID("error"), rid, "the user can quote the request ID")
		require.NotContains(t, p.Body, "database exploded", "internal details stay in the log")
	})
	t.Run("PanicIsRecovered", func(t *testing.T) {
		c := webtest.NewClient(t, app.URL)
		require.Equal(t, http.StatusInternalServerError, c.Get("/panic").Status)
		require.Equal(t, http.StatusOK, c.Get("/healthz").Status, "the server keeps serving")
	})
}

func TestFormsNeedACSRFToken(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t, webtest.WithServer(testRoutes))

	t.Run("WithoutTokenIsRefused", func(t *testing.T) {
		c := webtest.NewClient(t, app.URL)
		c.Get("/")
		p := c.PostForm("/form", url.Values{"name": {"x"}, "_csrf": {"forged"}})
		require.Equal(t, http.StatusForbidden, p.Status)
		require.Contains(t, p.TestID("error"), "页面已过期")
	})
	t.Run("FormWithToken", func(t *testing.T) {
		c := webtest.NewClient(t, app.URL)
		c.Get("/")
		require.NotEmpty(t, c.CSRFToken())
		p := c.PostForm("/form", url.Values{"name": {"Ada"}})
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, "saved Ada", p.Body)
	})
	t.Run("HTMXWithHeader", func(t *testing.T) {
		c := webtest.NewClient(t, app.URL)
		c.Get("/")
		p := c.HTMX(http.MethodPost, "/form", url.Values{"name": {"Lin"}})
		require.Equal(t, "saved Lin", p.Body)
	})
	t.Run("CrossSiteBrowserPostIsRefused", func(t *testing.T) {
		c := webtest.NewClient(t, app.URL)
		c.Get("/")
		req := c.NewRequest(http.MethodPost, "/form", strings.NewReader("name=x&_csrf="+c.CSRFToken()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		require.Equal(t, http.StatusForbidden, c.Do(req).Status)
	})
	t.Run("APIIsExempt", func(t *testing.T) {
		c := webtest.NewClient(t, app.URL)
		req := c.NewRequest(http.MethodPost, "/v1/form", nil)
		require.Equal(t, "api ok", c.Do(req).Body)
	})
	t.Run("HugeBodyIsRefused", func(t *testing.T) {
		c := webtest.NewClient(t, app.URL)
		req := c.NewRequest(http.MethodPost, "/v1/form", strings.NewReader(strings.Repeat("x", 9<<20)))
		p := c.Do(req)
		require.Equal(t, http.StatusRequestEntityTooLarge, p.Status)
		require.Contains(t, p.Body, `"code":"too_large"`)
	})
}

func TestRenderAndRedirectFollowHTMX(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t, webtest.WithServer(testRoutes))
	c := webtest.NewClient(t, app.URL)
	c.FollowRedirects = false
	c.Get("/") // picks up the CSRF token
	require.Contains(t, c.Get("/render").Body, "whole page")
	require.Contains(t, c.HTMX(http.MethodGet, "/render", nil).Body, "just the part")

	p := c.HTMX(http.MethodPost, "/redirect", nil)
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "/", p.Header.Get("HX-Redirect"))
	c.Get("/")
	plain := c.PostForm("/redirect", nil)
	require.Equal(t, http.StatusSeeOther, plain.Status)
	require.Equal(t, "/", plain.Header.Get("Location"))
}

func TestEveryErrorMappingHasTextInEveryLanguage(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t)
	b, err := i18n.Default()
	require.NoError(t, err)
	for _, m := range app.Server.ErrorMappings() {
		require.Truef(t, b.Has(m.Key), "error code %q uses i18n key %q that a locale lacks", m.Code, m.Key)
		require.NotEmpty(t, m.Code)
		require.GreaterOrEqual(t, m.Status, 400)
	}
}

// TestNewRefusesMissingDependencies: the server is given every service by
// the composition root and never builds a second copy of one.
func TestNewRefusesMissingDependencies(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t)
	deps := app.Services.WebDeps()
	_, err := web.New(deps)
	require.NoError(t, err, "the composition root's services are complete")
	deps.Ledger = nil
	_, err = web.New(deps)
	require.ErrorContains(t, err, "Deps.Ledger")
	_, err = web.New(web.Deps{})
	require.ErrorContains(t, err, "web: New needs Deps.")
}
