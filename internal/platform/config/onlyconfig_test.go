package config_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// envRead matches a read of the process environment, called or passed as a
// function value (FromEnv(os.Getenv)).
var envRead = regexp.MustCompile(`\bos\.(Getenv|LookupEnv|Environ)\b`)

// testSupport are non-test files that only tests and the test harness use
// (the test database and browser): they may read their own variables.
var testSupport = []string{
	"internal/platform/dbtest/dbtest.go",
	"internal/platform/natstest/natstest.go",
	"web/webtest/browser.go",
	"web/webtest/webtest.go",
}

// notYetMoved are readers that still take their settings from the
// environment themselves: none since issue 15 moved the last ones onto
// Config. The test fails when a file reads the environment and is not
// listed; keep it empty.
var notYetMoved = []string{}

// TestOnlyConfigReadsTheEnvironment scans the module's non-test Go sources:
// only internal/platform/config reads the environment (plus the listed test
// support and the readers not yet moved onto Config).
func TestOnlyConfigReadsTheEnvironment(t *testing.T) {
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "module root not found from the test's folder")

	var readers []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, "internal/platform/config/") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if envRead.Match(b) {
			readers = append(readers, rel)
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, readers, "the scan found no reader at all: is it scanning the module?")

	for _, r := range readers {
		if slices.Contains(testSupport, r) {
			continue
		}
		require.Contains(t, notYetMoved, r, "%s reads the environment: add its settings to config.Config and hand them to it", r)
	}
	for _, f := range notYetMoved {
		require.Contains(t, readers, f, "%s no longer reads the environment: remove it from notYetMoved", f)
	}
}
