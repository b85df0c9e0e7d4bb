package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/config"
)

// seedRelay stores the demo customer's API key of the OpenAI-compatible
// gateway (outside production only: its secret is public) and lists the
// gateway's URL and the key with the demo sign-ins. `credits gateway
// --demo` (which `make run` starts) adds the upstreamsim upstream.
// Idempotent.
func seedRelay(ctx context.Context, a *app.App) (seedResult, error) {
	if a.Config.Env == config.Production {
		return seedResult{}, nil
	}
	u, err := a.Auth.UserByLogin(ctx, demoCustomerLogin)
	if errors.Is(err, auth.ErrNotFound) {
		return seedResult{}, nil // no demo customer: nothing to make a key for
	}
	if err != nil {
		return seedResult{}, err
	}
	if err := a.RelayKeys.EnsureDemoKey(ctx, u.AccountID, "demo", demoRelayKey); err != nil {
		return seedResult{}, err
	}
	return seedResult{
		Lines: []string{fmt.Sprintf("API key for the gateway, %s's: %s", demoCustomerLogin, demoRelayKey)},
		SignIns: []string{
			"gateway     " + a.Config.Relay.PublicURL + " (OpenAI-compatible; `credits gateway`)",
			"API key     " + demoRelayKey + " (" + demoCustomerLogin + ")",
		},
	}, nil
}
