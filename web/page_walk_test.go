package web_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

// templLeaks are pieces of templ source that must never reach a reader: a
// component call or Go expression templ took for text prints them literally.
var templLeaks = []string{"@components.", "{ v.", "{ i18n.", "templ."}

// Every GET page of the portal and the back office, rendered for a customer
// with data and for a staff member holding every role, in both languages,
// shows no templ source in its text or attributes and no raw source code in
// its text.
func TestEveryPageRendersWithoutTemplSource(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	customer, u := b.register(t, uniqEmail("walk-customer"), "Walk Customer")
	b.charge(t, u.AccountID, "walk1", "deepseek-chat", "sess-walk", "120", 12000, 300)
	staff := b.staff(t, "walk-staff", auth.AllRoles...)

	// :id values the walk can fill with a row that exists; routes with other
	// parameters are left to their own tests.
	ids := map[string]string{
		"/admin/customers/:id": fmt.Sprint(u.AccountID),
	}
	var paths []string
	for _, rt := range b.app.Server.Echo.Routes() {
		if rt.Method != http.MethodGet {
			continue
		}
		if !strings.HasPrefix(rt.Path, "/portal") && !strings.HasPrefix(rt.Path, "/admin") && rt.Path != "/" {
			continue
		}
		path := rt.Path
		if strings.Contains(path, ":") || strings.Contains(path, "*") {
			id, ok := ids[path]
			if !ok {
				continue
			}
			path = strings.Replace(rt.Path, ":id", id, 1)
		}
		paths = append(paths, path)
	}
	sort.Strings(paths)
	require.Contains(t, paths, "/portal")
	require.Contains(t, paths, "/admin/approvals")
	require.Contains(t, paths, fmt.Sprintf("/admin/customers/%d", u.AccountID))

	checked := 0
	for _, lang := range []string{"zh-CN", "en"} {
		customer.Header.Set("Accept-Language", lang)
		staff.Header.Set("Accept-Language", lang)
		for _, path := range paths {
			c := customer
			if strings.HasPrefix(path, "/admin") {
				c = staff
			}
			p := c.Get(path)
			require.Less(t, p.Status, 500, "%s %s: %s", lang, path, p.Body)
			if !strings.Contains(p.Header.Get("Content-Type"), "text/html") {
				continue
			}
			for _, leak := range templLeaks {
				require.NotContains(t, p.Body, leak, "%s %s prints templ source", lang, path)
			}
			// Elements marked data-code show a code on purpose (see
			// rawCodesAnyLanguage in phone_walk_test.go).
			p.Doc.Find("[data-code]").Remove()
			text := p.Doc.Find("body").Text()
			require.Empty(t, rawCodesAnyLanguage.FindAllString(text, -1), "%s %s shows a raw code", lang, path)
			checked++
		}
	}
	t.Logf("walked %d pages: %v", checked, paths)
	require.Greater(t, checked, 20, "the walk rendered too few pages")
}
