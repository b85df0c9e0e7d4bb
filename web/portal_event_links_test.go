package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments"
)

// TestLedgerEventsLinkToTheirOrder (issue 16, defect 3): an event that came
// from a payment order names the order and links to it, on the
// transactions page and the overview's latest events, in both languages.
func TestLedgerEventsLinkToTheirOrder(t *testing.T) {
	t.Parallel()
	b := setupRefunds(t)
	c, acc := b.customer(t, uniqEmail("event-links"), true)
	o := b.payQR(t, c, acc, "3000", payments.ChannelWeChat)
	for lang, label := range map[string]string{"zh-CN": "充值订单 ", "en": "Top-up order "} {
		c.Get("/lang/" + lang)
		for _, page := range []string{"/portal/transactions", "/portal"} {
			p := c.Get(page)
			link := p.Doc.Find(`[data-testid="event-order"][href="/portal/orders/` + o.OrderNo + `"]`)
			require.NotZero(t, link.Length(), "%s %s links the top-up's events to the order: %s", lang, page, p.Doc.Find(`[data-testid="event-row"]`).Text())
			require.Equal(t, label+o.OrderNo, link.First().Text(), "%s %s", lang, page)
		}
	}
	require.Equal(t, http.StatusOK, c.Get("/portal/orders/"+o.OrderNo).Status, "the link opens the order")
}
