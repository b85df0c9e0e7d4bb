package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
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

// Sign-up asks for explicit consent to the terms and the privacy policy
// (an unticked box, never ticked for the person), reports it with every
// other error at once, and records the version agreed to.
func TestSignUpRecordsConsent(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	c := webtest.NewClient(t, b.app.URL)
	p := c.Get("/signup")
	box := p.Doc.Find(`[data-testid="signup-consent"]`)
	require.Equal(t, 1, box.Length())
	_, checked := box.Attr("checked")
	require.False(t, checked, "not ticked for the person")
	p = c.PostForm("/signup", url.Values{"login": {"consent@example.com"}, "password": {"correct horse 1"}, "password_confirm": {"other"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "请阅读并勾选同意服务条款和隐私政策。", p.TestID("error-consent"))
	require.NotEmpty(t, p.TestID("error-password_confirm"), "every error at once")
	_, err := b.auth.UserByLogin(context.Background(), "consent@example.com")
	require.Error(t, err, "no account without consent")

	c.Header.Set("Accept-Language", "en")
	p = c.PostForm("/signup", url.Values{"login": {"consent@example.com"}, "password": {"correct horse 1"}, "password_confirm": {"correct horse 1"}})
	require.Equal(t, "Please read and accept the terms of service and the privacy policy.", p.TestID("error-consent"))
	c.Header.Del("Accept-Language")

	_, u := b.register(t, "consent@example.com", "")
	consents, err := b.auth.Consents(context.Background(), u.ID)
	require.NoError(t, err)
	require.Len(t, consents, 1)
	require.Equal(t, auth.ConsentTerms, consents[0].Document)
	require.Equal(t, web.LegalVersion, consents[0].Version)
}
