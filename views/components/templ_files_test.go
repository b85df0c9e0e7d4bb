package components_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// viewModelRE finds a view model's declaration: a type, or a method on one.
var viewModelRE = regexp.MustCompile(`(?m)^(type \w+|func \(\w+ \*?\w+\) \w+)`)

// View models live in Go files (views/admin/models.go, views/portal/models.go
// and the …_models.go files beside them); .templ files hold templates and
// their small helpers. The components' own option types are the exception.
func TestTemplFilesDeclareNoViewModels(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "*", "*.templ"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		if filepath.Base(filepath.Dir(f)) == "components" {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		found := viewModelRE.FindAllString(string(src), -1)
		require.Emptyf(t, found, "%s declares %s: move it to a models file", f, strings.Join(found, ", "))
	}
}
