package relay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The upstream's body is the client's with the upstream's model name: the
// same object json.Marshal of the fields would give, values copied as the
// client wrote them, keys that need escaping escaped.
func TestObjectWith(t *testing.T) {
	var fields map[string]json.RawMessage
	body := `{"model":"public","messages":[{"role":"user","content":"a <b> & \"c\"\n"}], "stream" : true,"we\"ird\u00e9":1,"n":null}`
	require.NoError(t, json.Unmarshal([]byte(body), &fields))
	model, _ := json.Marshal("up/model")
	got := objectWith(fields, "model", model)
	require.True(t, json.Valid(got), "%s", got)

	fields["model"] = model
	want, err := json.Marshal(fields)
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))
	require.True(t, strings.HasPrefix(string(got), `{"messages":`), "keys sorted: %s", got)
	require.Contains(t, string(got), `"model":"up/model"`)

	delete(fields, "model")
	got = objectWith(fields, "model", model)
	require.Contains(t, string(got), `"model":"up/model"`, "added when the client named none")
	require.True(t, json.Valid(got), "%s", got)
}

// Events are renamed in place of the upstream's model name and read
// without copying when they have one data line.
func TestRenamerAndDataOf(t *testing.T) {
	r := newRenamer("sim-chat", "moonshot-v1-8k")
	require.Equal(t, "data: {\"model\":\"moonshot-v1-8k\",\"x\":1}\n\n",
		string(r.renamed([]byte("data: {\"model\":\"sim-chat\",\"x\":1}\n"))))
	require.Equal(t, "data: {\"model\": \"moonshot-v1-8k\"}\n\n",
		string(r.renamed([]byte("data: {\"model\": \"sim-chat\"}\n"))))
	require.Equal(t, "data: {\"model\":\"other\"}\n\n", string(r.renamed([]byte("data: {\"model\":\"other\"}\n"))))
	same := newRenamer("m", "m")
	require.Equal(t, "data: {\"model\":\"m\"}\n\n", string(same.renamed([]byte("data: {\"model\":\"m\"}\n"))))

	require.Equal(t, `{"a":1}`, string(dataOf([]byte("data: {\"a\":1}\n"))))
	require.Equal(t, `{"a":1}`, string(dataOf([]byte("data:{\"a\":1}\n"))))
	require.Equal(t, "{\"a\":\n1}", string(dataOf([]byte("event: x\ndata: {\"a\":\ndata: 1}\n"))))
	require.Nil(t, dataOf([]byte(": keep-alive\n")))
}

// A written event waits for its flush only while the end of the next one
// has been read already.
func TestEventBuffered(t *testing.T) {
	for in, want := range map[string]bool{
		"":                           false,
		"\n":                         false,
		"data: b\n":                  false,
		"\ndata: b\n\n":              true,
		"data: b\r\n\r\n":            true,
		"data: b\n\ndata: c\n":       true,
		"data: {\"x\":\"\\n\\n\"}\n": false,
	} {
		rd := bufio.NewReader(strings.NewReader(in))
		_, _ = rd.Peek(len(in))
		require.Equal(t, want, eventBuffered(rd), "%q", in)
	}
}

// discardFlusher is a ResponseWriter that keeps nothing and counts its
// flushes, for timing what relayStream spends between the network calls.
type discardFlusher struct {
	h       http.Header
	written int
	flushes int
}

func (d *discardFlusher) Header() http.Header         { return d.h }
func (d *discardFlusher) WriteHeader(int)             {}
func (d *discardFlusher) Write(b []byte) (int, error) { d.written += len(b); return len(b), nil }
func (d *discardFlusher) Flush()                      { d.flushes++ }

// simStream is a stream as upstreamsim writes it: a role chunk, tokens
// chunks, a stop chunk, the usage chunk and [DONE].
func simStream(model string, tokens int) []byte {
	var b bytes.Buffer
	chunk := func(delta string, finish string) {
		fmt.Fprintf(&b, `data: {"choices":[{"delta":%s,"finish_reason":%s,"index":0}],"created":1765152000,"id":"chatcmpl-0123456789abcdef","model":%q,"object":"chat.completion.chunk"}`+"\n\n", delta, finish, model)
	}
	chunk(`{"content":"","role":"assistant"}`, "null")
	for range tokens {
		chunk(`{"content":" tok"}`, "null")
	}
	chunk(`{}`, `"stop"`)
	fmt.Fprintf(&b, `data: {"choices":[],"created":1765152000,"id":"chatcmpl-0123456789abcdef","model":%q,"object":"chat.completion.chunk","usage":{"completion_tokens":%d,"prompt_tokens":9,"total_tokens":%d}}`+"\n\n", model, tokens, tokens+9)
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

// The relay's own work on a stream, its network calls left out: what
// relayStream spends on 32 token events renamed to the public model (the
// bench's shape: BenchmarkGatewayStreams).
func BenchmarkRelayStreamEvents(b *testing.B) {
	r := &Relay{}
	r.opts.defaults()
	body := simStream("sim-chat", 32)
	u := &liveUpstream{Upstream: Upstream{Name: "sim", Models: map[string]string{"moonshot-v1-8k": "sim-chat"}}}
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	b.ReportAllocs()
	for b.Loop() {
		c := &call{public: "moonshot-v1-8k", stream: true}
		resp := &http.Response{Body: io.NopCloser(bytes.NewReader(body))}
		w := &discardFlusher{h: http.Header{}}
		var res result
		if !r.relayStream(w, req, c, u, resp, &res) || res.usage == nil || res.usage.CompletionTokens != 32 {
			b.Fatal("stream not relayed")
		}
	}
}
