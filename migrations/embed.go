// Package migrations holds the SQL schema, applied in order by goose.
//
// Versions are allocated in blocks per domain so that work on different
// domains never collides: 0001xx platform, 0002xx ledger, 0003xx pricing and
// gateway API, 0004xx identity and portal, 0005xx payments, 0006xx back office,
// 0007xx verification and invoicing.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
