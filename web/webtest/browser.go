package webtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// ChromiumPath is Debian's Chromium (CHROMIUM overrides it).
func ChromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// minTimeout is the least time a browser test is given.
const minTimeout = 5 * time.Minute

// Browser starts a headless Chromium for this test, with its own temporary
// profile, its language set to zh-CN (the product's default) and a window of
// 1280×900, and returns a chromedp context that closes it when the test ends.
// The whole test must finish within the timeout, never less than
// minTimeout.
func Browser(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path := ChromiumPath()
	if _, err := exec.LookPath(path); err != nil {
		t.Fatalf("webtest: Chromium not found at %s: run `make test` (it installs it) or `apt-get install -y --no-install-recommends chromium fonts-noto-cjk`", path)
	}
	// The timeout guards against a hang, it is not a budget: on two cores
	// shared with other builds a journey that takes 20 s alone took 65, so
	// no test gets less than minTimeout.
	timeout = max(timeout, minTimeout)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("accept-lang", "zh-CN"),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser now, so a launch failure is reported here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("webtest: start Chromium: %v", err)
	}
	// Every confirm() a page asks (data-confirm) is accepted, as a person
	// pressing OK would, and its question kept for Dialogs.
	d := &dialogs{}
	ctx = context.WithValue(ctx, dialogsKey{}, d)
	events := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			d.mu.Lock()
			d.asked = append(d.asked, ev.Message)
			d.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return ctx
}

type dialogsKey struct{}

type dialogs struct {
	mu    sync.Mutex
	asked []string
}

// Dialogs returns the questions the pages in the browser of ctx asked
// (confirm, alert), oldest first; each was accepted.
func Dialogs(ctx context.Context) []string {
	d, ok := ctx.Value(dialogsKey{}).(*dialogs)
	if !ok {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.asked...)
}

// Screenshot saves the whole page as testdata-artifacts/<test>-<name>.png
// and returns the file's path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("webtest: screenshot: %v", err)
	}
	file := filepath.Join(ArtifactDir(t), strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatalf("webtest: %v", err)
	}
	return file
}

func projectRoot() string { return db.ProjectRoot() }

// Text is the trimmed text (innerText) of the first element sel (a CSS
// selector) matches in ctx's page, once it is shown. The element is found
// and read in one evaluation, polled until it is there: a page that swaps
// or reloads between finding a node and reading it (a language switch,
// an htmx swap) would otherwise leave a stale node id ("No node with
// given id found").
func Text(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	quoted, _ := json.Marshal(sel)
	js := `(() => { const e = document.querySelector(` + string(quoted) + `);
		return e && e.getClientRects().length ? {t: e.innerText} : null })()`
	got, err := chromedp.Run(ctx, chromedp.Poll[struct {
		T string `json:"t"`
	}](js))
	if err != nil {
		t.Fatalf("webtest: text of %s: %v", sel, err)
	}
	return strings.TrimSpace(got.T)
}

// SignIn signs login in through the sign-in form in the browser at base,
// at a 390 × 844 phone viewport, and waits for the signed-in page.
func SignIn(t testing.TB, ctx context.Context, base, login, password string) {
	t.Helper()
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(css(`[data-testid="signin-submit"]`)),
		chromedp.SendKeys(css(`#f-login`), login),
		chromedp.SendKeys(css(`#f-password`), password),
		chromedp.Click(css(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="signout"]`)),
	); err != nil {
		t.Fatalf("webtest: sign in as %s: %v", login, err)
	}
}

// RequireFitsWidth fails when the page is wider than width (it would
// scroll sideways), naming what with args.
func RequireFitsWidth(t testing.TB, ctx context.Context, width int, what string, args ...any) {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil {
		t.Fatalf("webtest: page width: %v", err)
	}
	if got > width {
		t.Fatalf("webtest: %s scrolls sideways: %d px wide, more than %d", fmt.Sprintf(what, args...), got, width)
	}
}
