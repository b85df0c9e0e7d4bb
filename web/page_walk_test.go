package web_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

// templSource is what a templ expression looks like when it was written
// where templ takes text and so printed instead of run.
var templSource = []string{"@components.", "{ v.", "templ."}

// Every page of the portal and the back office, in both languages, shows
// text and never the template source it was made from. The walk reads
// echo's own route list, so a page added later is walked too.
func TestEveryPageRendersWithoutTemplateSource(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	customer, u := b.register(t, "walk@example.com", "走查客户")
	for i := range 3 {
		b.charge(t, u.AccountID, "walk-"+strconv.Itoa(i), "deepseek-chat", "s", "12.5", 100, 100)
	}
	staff := b.staffClient(t, "walk-staff@example.com", auth.AllRoles...)
	params := map[string]string{":id": strconv.FormatInt(u.AccountID, 10)}

	walked := 0
	for _, rt := range b.app.Server.Echo.Routes() {
		if rt.Method != http.MethodGet || !page(rt.Path) {
			continue
		}
		path, ok := fill(rt.Path, params)
		if !ok {
			continue
		}
		c := customer
		if strings.HasPrefix(path, "/admin") {
			c = staff
		}
		for _, lang := range []string{"zh-CN", "en"} {
			c.Header.Set("Accept-Language", lang)
			p := c.Get(path)
			c.Header.Del("Accept-Language")
			require.Less(t, p.Status, 500, "%s in %s", path, lang)
			text := p.Doc.Find("body").Text()
			for _, src := range templSource {
				require.NotContains(t, text, src, "%s in %s prints template source", path, lang)
			}
			walked++
		}
	}
	t.Logf("walked %d pages", walked)
	require.Greater(t, walked, 40, "the walk reached the pages")
}

// page reports whether a route is a page a person reads (not a download,
// an htmx fragment or an endpoint).
func page(path string) bool {
	if !strings.HasPrefix(path, "/portal") && !strings.HasPrefix(path, "/admin") {
		return false
	}
	for _, suffix := range []string{".csv", ".pdf", ".png", ".json", "/pdf", "/rows", "/status", "/licence", "/image", "/*"} {
		if strings.HasSuffix(path, suffix) {
			return false
		}
	}
	return true
}

// fill puts known ids in a route's parameters; ok is false when one is unknown.
func fill(path string, params map[string]string) (string, bool) {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			v, ok := params[p]
			if !ok || !strings.HasPrefix(path, "/admin/customers/") {
				return "", false
			}
			parts[i] = v
		}
	}
	return strings.Join(parts, "/"), true
}
