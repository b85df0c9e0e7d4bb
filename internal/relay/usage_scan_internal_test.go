package relay

import "testing"

// A chunk is read in full only when it may carry usage: the scan must
// never miss a usage object, whatever the spacing, and should skip the
// "usage":null that streams with include_usage put on every chunk.
func TestMayHoldUsage(t *testing.T) {
	for data, want := range map[string]bool{
		`{"choices":[{"delta":{"content":" tok"}}]}`:                            false,
		`{"choices":[{"delta":{"content":" tok"}}],"usage":null}`:               false,
		`{"choices":[],"usage":{"prompt_tokens":3}}`:                            true,
		`{"choices":[], "usage" :  {"prompt_tokens":3}}`:                        true,
		"{\"usage\":\n{\"prompt_tokens\":3}}":                                   true,
		`{"choices":[{"delta":{"content":"say \"usage\": 1"}}],"usage":null}`:   false,
		`{"choices":[{"delta":{"content":"\"usage\":{"}}],"usage":{"total":1}}`: true,
		`{"usage":null,"x":{"usage":{"a":1}}}`:                                  true, // a false positive: read in full
	} {
		if got := mayHoldUsage([]byte(data)); got != want {
			t.Errorf("mayHoldUsage(%s) = %v, want %v", data, got, want)
		}
	}
}
