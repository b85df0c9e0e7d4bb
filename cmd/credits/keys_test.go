package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestKeysCreatePrintsOnlyTheSecret(t *testing.T) {
	t.Setenv("DATABASE_URL", dbtest.AppURL(t))
	ctx := context.Background()
	var out bytes.Buffer
	require.NoError(t, keys(ctx, []string{"create", "--mode", "test", "--name", "ci gateway"}, &out))
	secret := strings.TrimSpace(out.String())
	require.NotContains(t, secret, "\n", "one line: the secret and nothing else")
	require.True(t, strings.HasPrefix(secret, "sk_test_"))
	require.GreaterOrEqual(t, len(secret), 8+43)

	k, err := gateway.NewKeyStore(dbtest.Pool(t), 0).Authenticate(ctx, secret)
	require.NoError(t, err)
	require.Equal(t, ledger.ModeTest, k.Mode)
	require.Equal(t, "ci gateway", k.Name)

	out.Reset()
	require.NoError(t, keys(ctx, []string{"create", "--mode", "live", "--name", "prod"}, &out))
	require.True(t, strings.HasPrefix(out.String(), "sk_live_"))
	require.Error(t, keys(ctx, []string{"create", "--mode", "staging", "--name", "x"}, &out))
	require.Error(t, keys(ctx, []string{"create", "--mode", "test"}, &out), "a name is required")
}
