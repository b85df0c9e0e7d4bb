package relay

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
)

// Every code the error table can answer is in the published spec's enum,
// and the enum names nothing the gateway never answers.
func TestEveryErrorCodeIsInTheSpec(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(Spec)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(t.Context()))
	codeSchema := doc.Components.Schemas["Error"].Value.Properties["error"].Value.Properties["code"].Value
	inSpec := map[string]bool{}
	for _, c := range codeSchema.Enum {
		inSpec[c.(string)] = true
	}
	answered := map[string]bool{internalError.code: true, noPrimary.code: true, "unknown_url": true}
	for _, e := range errorTable {
		answered[e.code] = true
	}
	for c := range answered {
		require.True(t, inSpec[c], "code %s is answered but not in openapi.yaml", c)
	}
	for c := range inSpec {
		require.True(t, answered[c], "code %s is in openapi.yaml but never answered", c)
	}
}
