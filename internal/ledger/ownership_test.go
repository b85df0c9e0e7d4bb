package ledger_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ledgerOwnedAllowed lists the places outside the ledger that may still
// name one of its tables, functions or types, as "path: name". Keep it
// empty: give the caller a function in reads.go or a view (migration
// 000920) instead, and add an entry only with a comment saying why that
// cannot work.
var ledgerOwnedAllowed = map[string]bool{}

// ledgerObjectRE finds what the ledger's SQL creates: its tables,
// sequences, types and functions. Views are not matched: they are what it
// publishes to others.
var ledgerObjectRE = regexp.MustCompile(`(?i)CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|SEQUENCE|TYPE|FUNCTION)\s+(?:IF\s+NOT\s+EXISTS\s+)?(ledger_\w+)`)

var ledgerNameRE = regexp.MustCompile(`\bledger_\w+`)

// ledgerObjects returns the names of the ledger's tables, sequences,
// types and functions, read from the migrations and functions.sql.
func ledgerObjects(t *testing.T, root string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "migrations", "*.sql"))
	require.NoError(t, err)
	files = append(files, filepath.Join(root, "internal", "ledger", "schema", "functions.sql"))
	names := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range ledgerObjectRE.FindAllStringSubmatch(string(b), -1) {
			names[strings.ToLower(m[1])] = true
		}
	}
	return names
}

// ledgerNamesIn returns "line: name" for each ledger object that a string
// literal of the Go source names (struct tags aside: a JSON field called
// ledger_… is not SQL).
func ledgerNamesIn(t *testing.T, path string, src any, objects map[string]bool) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	require.NoError(t, err)
	tags := map[*ast.BasicLit]bool{}
	var found []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Field:
			if n.Tag != nil {
				tags[n.Tag] = true
			}
		case *ast.BasicLit:
			if n.Kind != token.STRING || tags[n] {
				return true
			}
			s, err := strconv.Unquote(n.Value)
			require.NoError(t, err)
			for _, name := range ledgerNameRE.FindAllString(s, -1) {
				if objects[strings.ToLower(name)] {
					found = append(found, fmt.Sprintf("%d: %s", fset.Position(n.Pos()).Line, name))
				}
			}
		}
		return true
	})
	return found
}

// TestNoLedgerTablesOutside fails when Go code outside internal/ledger
// names one of the ledger's tables, sequences, types or functions in a
// string (its SQL): other packages read the ledger through the functions
// of reads.go and the views of migration 000920, so that the ledger alone
// decides how its rows are stored and locked.
func TestNoLedgerTablesOutside(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	objects := ledgerObjects(t, root)
	for _, name := range []string{"ledger_accounts", "ledger_lots", "ledger_events", "ledger_reservations", "ledger_idempotency", "ledger_take"} {
		require.True(t, objects[name], "the migrations define %s", name)
	}
	require.False(t, objects["ledger_event_view"], "views are the ledger's published reads")

	t.Run("FindsNewOccurrence", func(t *testing.T) {
		src := "package p\n\ntype T struct {\n\tID int64 `json:\"ledger_events\"`\n}\n\nconst q = `SELECT balance FROM ledger_accounts JOIN ledger_lot_view USING (id)`\n\n// ledger_lots in a comment is prose.\nconst metric = \"credits_ledger_events_total\"\n"
		require.Equal(t, []string{"7: ledger_accounts"}, ledgerNamesIn(t, "p.go", src, objects))
	})

	var offenders []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			skip := rel == filepath.Join("internal", "ledger") || rel == "migrations" || rel == "vendor" ||
				rel == "node_modules" || (rel != "." && strings.HasPrefix(d.Name(), "."))
			if skip {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		for _, hit := range ledgerNamesIn(t, path, nil, objects) {
			where := filepath.ToSlash(rel) + ":" + hit
			name := hit[strings.Index(hit, " ")+1:]
			if !ledgerOwnedAllowed[filepath.ToSlash(rel)+": "+name] {
				offenders = append(offenders, where)
			}
		}
		return nil
	})
	require.NoError(t, err)
	slices.Sort(offenders)
	require.Empty(t, offenders, "SQL outside internal/ledger names the ledger's own objects: "+
		"add a read function to internal/ledger/reads.go or read a view of migration 000920")
}
