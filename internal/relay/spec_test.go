package relay_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/relay"
)

// The gateway's real answers — a completion, a stream, embeddings, the
// model list and each kind of error — are what its published openapi.yaml
// says, and the gateway serves that document.
func TestAnswersMatchThePublishedSpec(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.upstream(t, "spec", "glm-4-plus=sim-chat\nqwen-max=sim-embed", 0)
	_, secret := b.customer(t, "100", relay.KeyForm{Name: "spec", Models: "glm-4-plus\nqwen-max"})
	_, broke := b.customer(t, "0")

	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(relay.Spec)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(ctx))
	doc.Servers = openapi3.Servers{{URL: b.url}}
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)

	check := func(name, method, path, key, body string, status int) []byte {
		t.Helper()
		req, err := http.NewRequest(method, b.url+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, status, resp.StatusCode, "%s: %s", name, got)
		vreq, _ := http.NewRequest(method, b.url+path, strings.NewReader(body))
		vreq.Header = req.Header
		route, params, err := router.FindRoute(vreq)
		require.NoError(t, err, "%s: %s %s is in the spec", name, method, path)
		in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		stream := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
		require.NoError(t, openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(got)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: stream}}), "%s: %s", name, got)
		return got
	}

	check("completion", http.MethodPost, "/v1/chat/completions", secret, chatBody("glm-4-plus", "hi sim:tokens=3", false, ""), http.StatusOK)
	stream := check("stream", http.MethodPost, "/v1/chat/completions", secret, chatBody("glm-4-plus", "hi sim:tokens=3", true, ""), http.StatusOK)
	require.Contains(t, string(stream), "data: [DONE]")
	check("embeddings", http.MethodPost, "/v1/embeddings", secret, `{"model":"qwen-max","input":"one two"}`, http.StatusOK)
	models := check("models", http.MethodGet, "/v1/models", secret, "", http.StatusOK)
	require.Contains(t, string(models), `"glm-4-plus"`)
	check("invalid key", http.MethodPost, "/v1/chat/completions", "sk-"+strings.Repeat("x", 48), chatBody("glm-4-plus", "hi", false, ""), http.StatusUnauthorized)
	check("not allowed", http.MethodPost, "/v1/chat/completions", secret, chatBody("deepseek-chat", "hi", false, ""), http.StatusForbidden)
	check("no credit", http.MethodPost, "/v1/chat/completions", broke, chatBody("glm-4-plus", "hi", false, ""), http.StatusTooManyRequests)
	check("bad body", http.MethodPost, "/v1/chat/completions", secret, `{"model":"glm-4-plus","messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, http.StatusBadRequest)

	resp, err := http.Get(b.url + "/openapi.yaml")
	require.NoError(t, err)
	defer resp.Body.Close()
	served, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, relay.Spec, served)
}
