package client

import (
	"context"
	"net/http"
	"strings"
)

// New returns a client of the Credits gateway API at baseURL (the server's
// root, e.g. https://credits.example.com) that authenticates every call with
// serviceKey (sk_live_… or sk_test_…).
func New(baseURL, serviceKey string, opts ...ClientOption) (*ClientWithResponses, error) {
	auth := WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+serviceKey)
		return nil
	})
	return NewClientWithResponses(strings.TrimRight(baseURL, "/"), append([]ClientOption{auth}, opts...)...)
}

// Ptr returns a pointer to v, for the request fields the API lets a caller
// leave out (CommitInput's token counts, UsageEvent's fields).
func Ptr[T any](v T) *T { return &v }
