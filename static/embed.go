// Package static holds the files the browser loads (our CSS and JS, and the
// vendored Pico CSS and htmx), embedded in the binary and served under
// /static/. URL adds a content hash so that the files can be cached for a year.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

// FS holds every static file.
//
//go:embed app.css app.js portal.js portal.css analytics.js vendor
var FS embed.FS

// Versions maps each file's path (e.g. "app.css") to a short hash of its
// content.
var Versions = hashes()

func hashes() map[string]string {
	m := map[string]string{}
	_ = fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := FS.ReadFile(p)
		sum := sha256.Sum256(b)
		m[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	return m
}

// URL returns the address of a static file with its content version, e.g.
// /static/app.css?v=1a2b3c4d5e6f.
func URL(name string) string {
	if v, ok := Versions[name]; ok {
		return "/static/" + name + "?v=" + v
	}
	return "/static/" + name
}
