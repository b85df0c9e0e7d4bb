package web_test

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/web"
	"github.com/seed75218f88/credits/web/webtest"
)

// The privacy policy and the terms are public pages linked from every
// page's footer, complete in both languages and readable on a phone.
func TestLegalPagesInBothLanguages(t *testing.T) {
	t.Parallel()
	app := webtest.Start(t)
	c := webtest.NewClient(t, app.URL)
	home := c.Get("/")
	for doc, zh := range map[string]string{"privacy": "隐私政策", "terms": "服务条款"} {
		href, ok := home.Doc.Find(`[data-testid="footer-` + doc + `"]`).Attr("href")
		require.True(t, ok, "the footer links the %s", doc)
		p := c.Get(href)
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, zh, p.Doc.Find(`[data-testid="legal-`+doc+`"] h1`).Text())
		require.Equal(t, 6, p.Doc.Find(`[data-testid="legal-`+doc+`"] section`).Length())
		require.Contains(t, p.TestID("legal-version"), web.LegalVersion)
	}
	c.Header.Set("Accept-Language", "en")
	p := c.Get("/privacy")
	require.Equal(t, "Privacy policy", p.Doc.Find(`[data-testid="legal-privacy"] h1`).Text())
	require.Contains(t, p.Body, "Personal Information Protection Law")

	ctx := webtest.Browser(t, 0)
	var width int
	for _, lang := range []string{"zh-CN", "en"} {
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844),
			chromedp.Navigate(app.URL+"/lang/"+lang), chromedp.Navigate(app.URL+"/terms"),
			chromedp.WaitVisible(`[data-testid="legal-terms"]`)))
		shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
		require.NoError(t, err)
		require.Equal(t, lang, shown)
		width, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "the terms fit a phone in %s", lang)
		webtest.Screenshot(t, ctx, "terms-390-"+lang)
	}
}
