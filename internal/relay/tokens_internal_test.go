package relay

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The roles' counts kept by the Counter are the tokenizer's own, so a
// hold is what counting every role each time would make it.
func TestRoleTokensAreTheTokenizers(t *testing.T) {
	c, err := NewCounter()
	require.NoError(t, err)
	want := int64(tokensReply)
	var msgs []map[string]string
	for _, role := range []string{"system", "developer", "user", "assistant", "tool", "function", "critic"} {
		n, err := c.codec.Count(role)
		require.NoError(t, err)
		require.Equal(t, int64(n), c.roleTokens(role), role)
		msgs = append(msgs, map[string]string{"role": role, "content": "say " + role})
		want += tokensPerMessage + int64(n) + c.Count("say "+role)
	}
	raw, err := json.Marshal(msgs)
	require.NoError(t, err)
	require.Equal(t, want, c.PromptTokens(raw))
}

// A prompt counted again is counted from memory, to the same tokens, and
// the same bytes as a message's content and as a JSON value (a tool list)
// are remembered apart: one counts the text, the other its JSON.
func TestPromptCountsRemembered(t *testing.T) {
	c, err := NewCounter()
	require.NoError(t, err)
	text := "You are a careful assistant; answer in French."
	content, err := json.Marshal(text)
	require.NoError(t, err)
	parts := json.RawMessage(`[{"type":"text","text":"describe this picture, please"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]`)
	tools := json.RawMessage(`[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`)
	calls := json.RawMessage(`[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]`)
	msgs := json.RawMessage(`[{"role":"system","content":` + string(content) + `},{"role":"user","content":` + string(parts) +
		`},{"role":"assistant","content":null,"tool_calls":` + string(calls) + `}]`)
	want := int64(tokensReply) + 3*tokensPerMessage + c.Count("system") + c.Count("user") + c.Count("assistant") +
		c.Count(text) + c.Count("describe this picture, please") + tokensPerImage + c.Count(string(calls)) +
		c.Count(string(tools)) + c.Count(string(content))

	require.Equal(t, want, c.PromptTokens(msgs, tools, content), "counted")
	remembered := c.seen.size()
	require.Equal(t, 5, remembered, "the system text, the parts, the tool calls, the tools and the JSON string")
	require.Equal(t, want, c.PromptTokens(msgs, tools, content), "from memory")
	require.Equal(t, remembered, c.seen.size())
}

// The counts remembered stay within their bound while 64 callers count
// more distinct prompts than it at once, each still counted right.
func TestPromptCountsBounded(t *testing.T) {
	c, err := NewCounter()
	require.NoError(t, err)
	const callers, each = 64, countCacheShards * countCacheShardSize / 64 * 11 / 10
	var wg sync.WaitGroup
	wrong := make([]int, callers)
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				text := fmt.Sprintf("caller %d asks question number %d", g, i)
				raw, _ := json.Marshal([]map[string]string{{"role": "user", "content": text}})
				if c.PromptTokens(raw) != tokensReply+tokensPerMessage+c.Count("user")+c.Count(text) {
					wrong[g]++
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, make([]int, callers), wrong)
	require.LessOrEqual(t, c.seen.size(), countCacheShards*countCacheShardSize)
	require.Greater(t, c.seen.size(), countCacheShards*countCacheShardSize/2)
}
