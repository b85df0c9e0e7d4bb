package web_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// routeNameRE is what our route names look like ("portal.usage.csv");
// echo's default name (the handler's Go name) does not.
var routeNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$`)

// Every route is named through named (or adminRoute, which calls it), once:
// views and handlers build URLs from the names, and a route without one
// would be reachable only by a hard-coded path.
func TestEveryRouteHasOneName(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	owner := map[string]string{}
	for _, rt := range b.app.Server.Echo.Routes() {
		if rt.Method == "echo_route_not_found" {
			continue
		}
		route := rt.Method + " " + rt.Path
		require.Regexp(t, routeNameRE, rt.Name, "%s has no name: register it with named(…)", route)
		if prev, ok := owner[rt.Name]; ok {
			t.Errorf("%s and %s share the name %q", prev, route, rt.Name)
		}
		owner[rt.Name] = route
	}
	require.Contains(t, owner, "portal.redeem")

	// No route is named by assigning to echo.Route.Name elsewhere.
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	assign := regexp.MustCompile(`\)\.Name\s*=`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		require.Falsef(t, assign.Match(src), "%s names a route by assignment: use named(…)", f)
	}
}
