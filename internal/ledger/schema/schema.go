// Package schema holds the one live definition of every PL/pgSQL function
// of the ledger, in functions.sql. The numbered migrations keep only
// tables, types and triggers; db.Migrate applies this file after them every
// time it runs (see migrations.Repeatables).
//
// It is a package of its own, apart from package ledger, because the test
// template (internal/platform/dbtest) must include the functions, and
// package ledger's own tests import dbtest.
package schema

import _ "embed"

// Functions is functions.sql: CREATE OR REPLACE statements, safe to run
// again.
//
//go:embed functions.sql
var Functions string
