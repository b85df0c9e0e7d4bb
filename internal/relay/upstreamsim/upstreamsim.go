// Package upstreamsim is a fake OpenAI-compatible upstream for development
// and tests (`credits upstreamsim`): deterministic token streams, reported
// usage with cached tokens, and faults on demand.
//
// A call is steered by directives in its last message's text, words of the
// form sim:name=value:
//
//	sim:tokens=N       reply with N tokens (default 16; max_tokens caps it)
//	sim:cached=N       report N of the prompt tokens as cached
//	sim:delay=D        wait D (a Go duration) between tokens
//	sim:first=D        wait D before the first token (a slow first token)
//	sim:fault=error    answer 500 before any output
//	sim:fault=cut:K    stream K tokens, then drop the connection
//	sim:fault=nousage  report no usage
//	sim:fault=status:C answer status C with an OpenAI error body
//
// Each reply token is one o200k_base token (" tok"), so a stream of N
// tokens is counted as N by the gateway's tokenizer too. The prompt's tokens
// are its words plus 3 per message plus 3: a deterministic stand-in for a
// vendor's own tokenizer.
package upstreamsim

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Token is the text of every reply token.
const Token = " tok"

// Options configure the simulator.
type Options struct {
	// APIKey, when set, is required as "Authorization: Bearer <APIKey>".
	APIKey string
	// Delay is the default wait between tokens (0).
	Delay time.Duration
}

// Server is the simulator. Fail makes every call answer the given status
// (0: normal) until set back, for failover tests.
type Server struct {
	opts     Options
	Fail     atomic.Int32
	calls    atomic.Int64
	mu       sync.Mutex
	finished int64
}

// New returns a simulator.
func New(opts Options) *Server { return &Server{opts: opts} }

// Calls is how many chat and embeddings calls reached the simulator.
func (s *Server) Calls() int64 { return s.calls.Load() }

// Finished is how many streams were written to their end (the last chunk
// and [DONE]) — a test that a gateway read a stream to its end after its
// client left.
func (s *Server) Finished() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finished
}

// ServeHTTP routes /v1/chat/completions, /v1/embeddings and /v1/models.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
		writeErr(w, http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided.")
		return
	}
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/chat/completions"):
		s.calls.Add(1)
		s.chat(w, r)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/embeddings"):
		s.calls.Add(1)
		s.embeddings(w, r)
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models"):
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"sim-chat","object":"model","created":0,"owned_by":"upstreamsim"}]}`)
	default:
		writeErr(w, http.StatusNotFound, "unknown_url", "Unknown endpoint.")
	}
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "api_error", "param": nil, "code": code}})
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type chatRequest struct {
	Model         string    `json:"model"`
	Messages      []message `json:"messages"`
	Stream        bool      `json:"stream"`
	MaxTokens     *int      `json:"max_tokens"`
	MaxCompletion *int      `json:"max_completion_tokens"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// plan is what a call asked for.
type plan struct {
	tokens, cached, cutAfter int
	delay, first             time.Duration
	fault                    string
	status                   int
	noUsage                  bool
}

func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text + " ")
	}
	return b.String()
}

func (s *Server) plan(req chatRequest) plan {
	p := plan{tokens: 16, cutAfter: -1, delay: s.opts.Delay}
	if len(req.Messages) == 0 {
		return p
	}
	for _, w := range strings.Fields(text(req.Messages[len(req.Messages)-1].Content)) {
		k, v, ok := strings.Cut(strings.TrimPrefix(w, "sim:"), "=")
		if !ok || !strings.HasPrefix(w, "sim:") {
			continue
		}
		switch k {
		case "tokens":
			p.tokens, _ = strconv.Atoi(v)
		case "cached":
			p.cached, _ = strconv.Atoi(v)
		case "delay":
			p.delay, _ = time.ParseDuration(v)
		case "first":
			p.first, _ = time.ParseDuration(v)
		case "fault":
			name, arg, _ := strings.Cut(v, ":")
			switch name {
			case "error":
				p.fault = "error"
			case "cut":
				p.cutAfter, _ = strconv.Atoi(arg)
			case "nousage":
				p.noUsage = true
			case "status":
				p.fault, p.status = "status", atoiOr(arg, 500)
			}
		}
	}
	for _, m := range []*int{req.MaxCompletion, req.MaxTokens} {
		if m != nil {
			p.tokens = min(p.tokens, *m)
			break
		}
	}
	return p
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// PromptTokens is the simulator's count of a chat call's prompt.
func PromptTokens(msgs []message) int {
	n := 3
	for _, m := range msgs {
		n += 3 + len(strings.Fields(text(m.Content)))
	}
	return n
}

type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "invalid_request", "The body is not valid JSON.")
		return
	}
	if st := s.Fail.Load(); st != 0 {
		writeErr(w, int(st), "upstream_failure", "Simulated failure.")
		return
	}
	p := s.plan(req)
	switch p.fault {
	case "error":
		writeErr(w, http.StatusInternalServerError, "server_error", "Simulated error before any output.")
		return
	case "status":
		writeErr(w, p.status, "simulated", "Simulated status.")
		return
	}
	prompt := PromptTokens(req.Messages)
	u := usage{PromptTokens: prompt, CompletionTokens: p.tokens, TotalTokens: prompt + p.tokens}
	u.PromptTokensDetails.CachedTokens = min(p.cached, prompt)
	id := fmt.Sprintf("chatcmpl-sim-%d", s.calls.Load())
	created := time.Now().Unix()
	if !req.Stream {
		time.Sleep(p.first + time.Duration(p.tokens)*p.delay)
		content := strings.Repeat(Token, p.tokens)
		doc := map[string]any{"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content}, "finish_reason": "stop"}}}
		if !p.noUsage {
			doc["usage"] = u
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	chunk := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
		if fl != nil {
			fl.Flush()
		}
	}
	if p.first > 0 {
		time.Sleep(p.first)
	}
	chunk(map[string]any{"role": "assistant", "content": ""}, nil)
	for i := 0; i < p.tokens; i++ {
		if i == p.cutAfter {
			cut(w)
			return
		}
		if i > 0 && p.delay > 0 {
			select {
			case <-time.After(p.delay):
			case <-r.Context().Done(): // the caller went away
				return
			}
		}
		chunk(map[string]any{"content": Token}, nil)
	}
	if p.cutAfter >= p.tokens {
		cut(w)
		return
	}
	chunk(map[string]any{}, "stop")
	if !p.noUsage { // sent when asked (the gateway always asks)
		if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
			b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
				"choices": []any{}, "usage": u})
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
	s.mu.Lock()
	s.finished++
	s.mu.Unlock()
}

// cut drops the connection without ending the stream.
func cut(w http.ResponseWriter) {
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "invalid_request", "The body is not valid JSON.")
		return
	}
	if st := s.Fail.Load(); st != 0 {
		writeErr(w, int(st), "upstream_failure", "Simulated failure.")
		return
	}
	var inputs []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		inputs = []string{one}
	} else {
		_ = json.Unmarshal(req.Input, &inputs)
	}
	data := make([]any, len(inputs))
	tokens := 0
	for i, in := range inputs {
		words := strings.Fields(in)
		tokens += len(words)
		vec := make([]float64, 8)
		for j := range vec {
			vec[j] = math.Round(math.Sin(float64(len(in)*(j+1)))*1e6) / 1e6
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": vec}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model,
		"usage": map[string]any{"prompt_tokens": tokens, "total_tokens": tokens}})
}
