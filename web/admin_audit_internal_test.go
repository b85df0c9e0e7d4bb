package web

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// The audit page names every action it offers in both languages (the keys
// are built at run time, so the i18n scan of literal keys cannot see them).
func TestEveryAuditActionHasAName(t *testing.T) {
	b, err := i18n.Default()
	require.NoError(t, err)
	for _, a := range auditActions {
		require.True(t, b.Has("admin.audit_action."+string(a)), "admin.audit_action.%s is missing from a locale", a)
	}
	for _, m := range []string{"test", "live"} {
		require.True(t, b.Has("admin.keys.mode_"+m), m)
	}
}
