package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/web/webtest"
)

func TestHomePageInChromiumInBothLanguages(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t)
	ctx := webtest.Browser(t, 0)
	title := chromedp.CSS(`[data-testid="home-title"]`)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(app.URL+"/"), chromedp.WaitVisible(title)))
	zh, err := chromedp.Run(ctx, chromedp.Text(title))
	require.NoError(t, err)
	require.Equal(t, "预付费点数，按调用计费", zh)
	nav, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="nav-auth.signup"]`)))
	require.NoError(t, err)
	require.Equal(t, "注册", nav, "a visitor is offered sign-up")
	webtest.Screenshot(t, ctx, "home-desktop-zh")

	// htmx and our script loaded under the CSP, and htmx read its config
	// from the meta tag.
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`typeof htmx === "object" && htmx.config.includeIndicatorStyles === false && htmx.config.allowEval === false`))
	require.NoError(t, err)
	require.True(t, loaded, "htmx runs with the config from <meta name=htmx-config>")

	// Usable on a 390 px phone: nothing wider than the screen.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(app.URL+"/"), chromedp.WaitVisible(title)))
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	require.NoError(t, err)
	require.LessOrEqual(t, width, 390, "the page scrolls sideways on a phone")
	webtest.Screenshot(t, ctx, "home-390-zh")

	// The language switch turns the page into English and remembers it.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="lang-en"]`)), chromedp.WaitVisible(title)))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.documentElement.lang === "en"`))
	require.NoError(t, err)
	en, err := chromedp.Run(ctx, chromedp.Text(title))
	require.NoError(t, err)
	require.Equal(t, "Prepaid credits, billed per call", en)
	webtest.Screenshot(t, ctx, "home-390-en")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(app.URL+"/"), chromedp.WaitVisible(title)))
	again, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="nav-auth.signup"]`)))
	require.NoError(t, err)
	require.Equal(t, "Sign up", again, "the chosen language sticks")
}
