// Package i18ntest holds the locale-coverage check the domain packages' tests
// share: every code they can hand to a user must have a message.
package i18ntest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// RequireKeys fails t unless every key has a non-empty message in every
// supported language of the embedded locales/ files.
func RequireKeys(t testing.TB, keys ...string) {
	t.Helper()
	bundle, err := i18n.Default()
	require.NoError(t, err)
	for _, lang := range i18n.Languages {
		l := bundle.Localizer(lang)
		for _, k := range keys {
			require.True(t, bundle.Has(k), "no locale message for %s", k)
			require.NotEqual(t, k, l.T(k), "%s has no %s message", k, lang)
		}
	}
}
