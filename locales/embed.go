// Package locales holds the user-visible text in every language, as go-i18n
// TOML files named <area>.<lang>.toml (common.zh-CN.toml, portal.en.toml, …).
// Each area owns its files; the i18n package loads them all.
package locales

import "embed"

// FS holds every message file.
//
//go:embed *.toml
var FS embed.FS
