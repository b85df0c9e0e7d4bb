package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/web/webtest"
)

var verified = map[string]any{"status": "verified", "reference": "r"}

// A sub-account's calls count against its own bucket and its enterprise's,
// which all the enterprise's sub-accounts share.
func TestAPISubAccountCallsCountAgainstTheEnterpriseLimit(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ent := b.account(c, uniq(t, "ent"), map[string]any{"kind": "enterprise", "rpm": 3, "verification": verified})
	b.grant(c, ent, "1000", "g")
	subA := b.account(c, uniq(t, "a"), map[string]any{"kind": "sub", "parent": ent, "rpm": 100, "verification": verified})
	subB := b.account(c, uniq(t, "b"), map[string]any{"kind": "sub", "parent": ent, "rpm": 100, "verification": verified})

	require.Equal(t, http.StatusCreated, b.reserve(c, subA, "a1", 10, 10).Status)
	require.Equal(t, http.StatusCreated, b.reserve(c, subA, "a2", 10, 10).Status)
	require.Equal(t, http.StatusCreated, b.reserve(c, subB, "b1", 10, 10).Status)
	for _, sub := range []string{subB, subA, ent} {
		r := b.reserve(c, sub, "over-"+sub, 10, 10)
		require.Equal(t, http.StatusTooManyRequests, r.Status, "%s: the enterprise's 3 per minute are used up", sub)
		require.Equal(t, "rate_limited", r.Code(t))
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		require.NoError(t, err)
		require.InDelta(t, 20, secs, 1, "3 per minute: one request refills in 20 s")
	}
	msg := b.reserve(c, subA, "msg", 10, 10).JSON(t)["error"].(map[string]any)["message"].(string)
	require.True(t, strings.Contains(msg, "企业") || strings.Contains(msg, "enterprise"), "the answer names the enterprise's limit: %s", msg)

	// The sub-account's own, tighter limit answers first, naming the account.
	ent2 := b.account(c, uniq(t, "ent2"), map[string]any{"kind": "enterprise", "rpm": 100, "verification": verified})
	b.grant(c, ent2, "1000", "g")
	tight := b.account(c, uniq(t, "tight"), map[string]any{"kind": "sub", "parent": ent2, "rpm": 1, "verification": verified})
	require.Equal(t, http.StatusCreated, b.reserve(c, tight, "t1", 10, 10).Status)
	r := b.reserve(c, tight, "t2", 10, 10)
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	require.Equal(t, "60", r.Header.Get("Retry-After"), "1 per minute: the sub-account's own bucket is the tighter")
	require.Equal(t, http.StatusCreated, b.reserve(c, ent2, "e1", 10, 10).Status, "the enterprise's bucket was not spent by the refused call")
}

// The limits an enterprise owner sets in the portal are the ones the API
// enforces and reports, and the reverse.
func TestPortalSubAccountLimitsAreTheGatewayLimits(t *testing.T) {
	b := setupAPI(t, apiOpts{})
	c := b.live
	ent := b.account(c, uniq(t, "ent"), map[string]any{"kind": "enterprise", "verification": verified})
	b.grant(c, ent, "1000", "g")
	put := c.do(http.MethodPut, "/v1/accounts/"+uniq(t, "dept"), map[string]any{"kind": "sub", "parent": ent, "verification": verified})
	require.Equal(t, http.StatusCreated, put.Status, string(put.Body))
	sub := put.JSON(t)
	subExt, subID := sub["external_id"].(string), int64(sub["id"].(float64))
	require.EqualValues(t, 600, sub["rpm"], "no limit set: the default")

	// The enterprise owner arrives through a portal link and sets 1 RPM.
	link := c.do(http.MethodPost, "/v1/accounts/"+ent+"/portal-sessions", nil)
	require.Equal(t, http.StatusCreated, link.Status, string(link.Body))
	u, err := url.Parse(link.JSON(t)["url"].(string))
	require.NoError(t, err)
	owner := webtest.NewClient(t, b.app.URL)
	owner.Get(u.Path)
	page := fmt.Sprintf("/portal/accounts/%d", subID)
	require.Equal(t, http.StatusOK, owner.Get(page).Status)
	p := owner.PostForm(page, url.Values{"allocation": {""}, "rpm": {"1"}, "tpm": {""}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)

	require.Equal(t, http.StatusCreated, b.reserve(c, subExt, "k1", 10, 10).Status)
	r := b.reserve(c, subExt, "k2", 10, 10)
	require.Equal(t, http.StatusTooManyRequests, r.Status, "the API enforces the portal's 1 RPM")
	require.Equal(t, "60", r.Header.Get("Retry-After"))

	// The platform changes it through the API; the portal shows the new value.
	put = c.do(http.MethodPut, "/v1/accounts/"+subExt, map[string]any{"kind": "sub", "parent": ent, "rpm": 7, "tpm": 5000})
	require.Equal(t, http.StatusOK, put.Status, string(put.Body))
	require.EqualValues(t, 7, put.JSON(t)["rpm"])
	p = owner.Get(page)
	v, _ := p.Doc.Find(`input[name="rpm"]`).Attr("value")
	require.Equal(t, "7", v)
	v, _ = p.Doc.Find(`input[name="tpm"]`).Attr("value")
	require.Equal(t, "5000", v)

	// A limit too large for the store is a form error, not a server error.
	p = owner.PostForm(page, url.Values{"rpm": {"99999999999"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotEmpty(t, p.TestID("error-rpm"))
}
