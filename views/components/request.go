// Package components holds the small templ pieces every page uses (Money,
// Credits, Time, Flash, Field, CSRF) and the request facts views read from
// the context.
package components

import "context"

// Request is what the views need to know about the current request; the web
// middleware puts it in the context.
type Request struct {
	// CSRFToken goes into every form (hidden _csrf field) and into the
	// csrf-token meta tag that static/app.js sends with htmx requests.
	CSRFToken string
	// Path is the current path and query, where the language switch returns.
	Path string
	// SignedIn: a session names a user. Visitors get sign-in and sign-up in
	// the menu instead of the portal's pages.
	SignedIn bool
	// Reverse builds a URL from a route name (echo's Reverse); it returns ""
	// for an unknown name.
	Reverse func(name string, params ...any) string
}

type ctxKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// RequestFrom returns the request facts in ctx (zero when absent).
func RequestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(ctxKey{}).(Request)
	return r
}

// URL builds the URL of the named route, or returns fallback when no such
// route is registered (yet).
func URL(ctx context.Context, name, fallback string, params ...any) string {
	if r := RequestFrom(ctx); r.Reverse != nil {
		if u := r.Reverse(name, params...); u != "" {
			return u
		}
	}
	return fallback
}
