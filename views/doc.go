// Package views holds the pages that belong to no area (the home page); each
// area has its own subpackage (views/portal, views/admin).
package views
