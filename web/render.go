package web

import (
	"bytes"
	"context"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// IsHTMX reports an htmx request that swaps part of a page (a boosted link
// or form wants the full page).
func IsHTMX(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-Boosted") != "true"
}

// Render is the one way handlers answer with HTML: the partial for htmx
// requests, the full page otherwise. A nil partial always sends the page.
func Render(c echo.Context, status int, page, partial templ.Component) error {
	if partial != nil && IsHTMX(c) {
		return renderTo(c, c.Request().Context(), status, partial)
	}
	return renderTo(c, c.Request().Context(), status, page)
}

// RenderComponent sends one component as it is (a fragment or a page).
func RenderComponent(c echo.Context, status int, comp templ.Component) error {
	return renderTo(c, c.Request().Context(), status, comp)
}

// renderTo renders into a buffer first, so a failing template becomes a
// clean 500 instead of half a page.
func renderTo(c echo.Context, ctx context.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(ctx, &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// HXRedirect sends the browser to url after a POST: an HX-Redirect header
// for htmx, a 303 See Other otherwise.
func HXRedirect(c echo.Context, url string) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", url)
		return c.NoContent(http.StatusOK)
	}
	return c.Redirect(http.StatusSeeOther, url)
}
