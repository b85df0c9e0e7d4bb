// Package schema holds the gateway's PL/pgSQL functions, in quota.sql: the
// one live definition of each, applied after the numbered migrations every
// time they run (migrations.Repeatables), like the ledger's and plans'.
package schema

import _ "embed"

// Quota is quota.sql: CREATE OR REPLACE statements, safe to run again.
//
//go:embed quota.sql
var Quota string
