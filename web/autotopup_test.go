package web_test

import (
	"net/http"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/autotopup"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/web/webtest"
)

// TestAutoTopUpHistorySaysWhenEmpty: before anything happened the auto
// top-up page says so under 操作记录 in the reader's language, instead of
// a heading over nothing; once signing starts, the history lists it and the
// message is gone.
func TestAutoTopUpHistorySaysWhenEmpty(t *testing.T) {
	t.Parallel()
	b := setupPay(t)
	c, acc := b.customer(t, uniqEmail("autotopup-empty"), true)
	var p *webtest.Page
	for lang, want := range map[string]string{"zh-CN": "还没有操作记录。", "en": "Nothing has happened yet."} {
		c.Get("/lang/" + lang)
		p = c.Get("/portal/auto-topup")
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, want, p.TestID("autotopup-history-none"), lang)
		require.Empty(t, p.Doc.Find(`[data-testid="autotopup-history"] li`).Nodes)
	}
	tiers := p.Doc.Find(`[data-testid="autotopup-tier"] option`).Map(func(_ int, s *goquery.Selection) string { return s.Text() })
	require.Contains(t, tiers, "¥1,000.00", "tiers read as money elsewhere: %v", tiers)
	_, err := b.app.Services.AutoTopUp.StartSigning(t.Context(), acc, payments.ChannelAlipay, "empty", autotopup.Actor{}, b.app.URL+"/portal/auto-topup")
	require.NoError(t, err)
	p = c.Get("/portal/auto-topup")
	require.NotEmpty(t, p.Doc.Find(`[data-testid="autotopup-history-signing_started"]`).Nodes, p.Body)
	require.Empty(t, p.TestID("autotopup-history-none"))
}
