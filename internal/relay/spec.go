package relay

import (
	_ "embed"
	"net/http"
)

// Spec is the gateway's OpenAPI document (openapi.yaml): OpenAI's shapes as
// far as the gateway reads, adds or guarantees them, and its error codes.
// It is served at GET /openapi.yaml; the tests check real answers against it.
//
//go:embed openapi.yaml
var Spec []byte

func serveSpec(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(Spec)
}
