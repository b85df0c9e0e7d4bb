package relay

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/tiktoken-go/tokenizer"
)

// Counter counts tokens with the o200k_base BPE (tiktoken-go/tokenizer,
// whose vocabularies are embedded in the binary: nothing is downloaded). It
// estimates a call's input for its hold and counts what a stream produced
// when the upstream reports no usage. Other vendors' tokenizers differ, so
// the hold is an estimate; the charge is the upstream's usage whenever it
// reports one.
type Counter struct {
	codec tokenizer.Codec
	// roles are the tokens of the chat roles, counted once: every message
	// names one, and each Count runs the tokenizer's pattern.
	roles map[string]int64
	// seen remembers what prompts' parts counted (countCache).
	seen *countCache
}

// NewCounter loads the tokenizer (about 70 ms, once per process).
func NewCounter() (*Counter, error) {
	codec, err := tokenizer.Get(tokenizer.O200kBase)
	if err != nil {
		return nil, fmt.Errorf("relay: tokenizer: %w", err)
	}
	c := &Counter{codec: codec, roles: map[string]int64{}, seen: newCountCache()}
	for _, role := range []string{"system", "developer", "user", "assistant", "tool", "function"} {
		c.roles[role] = c.Count(role)
	}
	return c, nil
}

// roleTokens is Count of a message's role.
func (c *Counter) roleTokens(role string) int64 {
	if n, ok := c.roles[role]; ok {
		return n
	}
	return c.Count(role)
}

// Count returns the tokens of s. A text the tokenizer cannot take is
// counted at one token per byte, an upper bound for a byte-level BPE.
func (c *Counter) Count(s string) int64 {
	if s == "" {
		return 0
	}
	n, err := c.codec.Count(s)
	if err != nil {
		return int64(len(s))
	}
	return int64(n)
}

// Per-message and per-reply overheads of the chat format (OpenAI's
// cookbook: 3 tokens a message, 1 for a name, 3 priming the reply).
const (
	tokensPerMessage = 3
	tokensPerName    = 1
	tokensReply      = 3
	// tokensPerImage is held for each image part: the most a high-detail
	// image costs at OpenAI's tile rates for a 2048×768 image (765 + 85).
	tokensPerImage = 850
)

type chatMessage struct {
	Role       string          `json:"role"`
	Name       string          `json:"name"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  json.RawMessage `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// PromptTokens estimates the input tokens of a chat call: each message's
// text and name, the chat format's overheads, images at tokensPerImage,
// and tools, tool calls and response formats by their JSON text. A body it
// cannot read is counted at one token per byte.
func (c *Counter) PromptTokens(messages json.RawMessage, extras ...json.RawMessage) int64 {
	var msgs []chatMessage
	if err := json.Unmarshal(messages, &msgs); err != nil {
		return int64(len(messages))
	}
	n := int64(tokensReply)
	for _, m := range msgs {
		n += tokensPerMessage + c.roleTokens(m.Role)
		if m.Name != "" {
			n += tokensPerName + c.Count(m.Name)
		}
		n += c.seen.tokens(kindContent, m.Content, func() int64 { return c.contentTokens(m.Content) })
		if len(m.ToolCalls) > 0 {
			n += c.jsonTokens(m.ToolCalls)
		}
		n += c.Count(m.ToolCallID)
	}
	for _, e := range extras {
		if len(e) > 0 && string(e) != "null" {
			n += c.jsonTokens(e)
		}
	}
	return n
}

// jsonTokens is Count of a JSON value's text (tools, tool calls, response
// formats), remembered.
func (c *Counter) jsonTokens(raw json.RawMessage) int64 {
	return c.seen.tokens(kindJSON, raw, func() int64 { return c.Count(string(raw)) })
}

// countCache remembers the tokens of a prompt's parts counted before,
// keyed by a 128-bit hash of their JSON: a conversation sends its history
// again on every turn and an application its system prompt and tools, and
// the tokenizer takes about a microsecond a token (1.3–2.2 ms for a prompt
// of 2,300 tokens), more than the rest of the gateway's work on a call.
// It holds at most countCacheShards × countCacheShardSize entries (one
// dropped at random when a shard is full); parts under minCachedPart bytes
// are counted each time. A count is a pure function of the bytes, so a
// remembered one is the count itself.
type countCache struct {
	seeds  [2]maphash.Seed
	shards [countCacheShards]countShard
}

type countShard struct {
	mu sync.Mutex
	m  map[[2]uint64]int64
}

const (
	countCacheShards    = 64
	countCacheShardSize = 1024
	minCachedPart       = 16
)

// What a part's bytes were counted as: a message's content (a JSON string
// or list of parts) or a JSON value's whole text.
const (
	kindContent byte = 'c'
	kindJSON    byte = 'j'
)

func newCountCache() *countCache {
	cc := &countCache{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range cc.shards {
		cc.shards[i].m = make(map[[2]uint64]int64)
	}
	return cc
}

// tokens is count() of the part b of kind, from memory when b was counted
// before as that kind.
func (cc *countCache) tokens(kind byte, b []byte, count func() int64) int64 {
	if len(b) < minCachedPart {
		return count()
	}
	var k [2]uint64
	for i, seed := range cc.seeds {
		var h maphash.Hash
		h.SetSeed(seed)
		h.WriteByte(kind)
		h.Write(b)
		k[i] = h.Sum64()
	}
	s := &cc.shards[k[0]%countCacheShards]
	s.mu.Lock()
	n, ok := s.m[k]
	s.mu.Unlock()
	if ok {
		return n
	}
	n = count()
	s.mu.Lock()
	if _, ok := s.m[k]; !ok && len(s.m) >= countCacheShardSize {
		for old := range s.m { // a random entry
			delete(s.m, old)
			break
		}
	}
	s.m[k] = n
	s.mu.Unlock()
	return n
}

// size is how many counts are remembered.
func (cc *countCache) size() int {
	n := 0
	for i := range cc.shards {
		s := &cc.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (c *Counter) contentTokens(raw json.RawMessage) int64 {
	if len(raw) == 0 || string(raw) == "null" {
		return 0
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return c.Count(s)
	}
	var parts []contentPart
	if json.Unmarshal(raw, &parts) != nil {
		return int64(len(raw))
	}
	var n int64
	for _, p := range parts {
		switch p.Type {
		case "text":
			n += c.Count(p.Text)
		case "image_url", "input_image":
			n += tokensPerImage
		default: // audio, files: their JSON, bytes as tokens
			n += int64(len(raw))
		}
	}
	return n
}

// InputTokens estimates an embeddings call's input: a string, a list of
// strings, or token arrays (counted as given).
func (c *Counter) InputTokens(input json.RawMessage) int64 {
	var s string
	if json.Unmarshal(input, &s) == nil {
		return c.Count(s)
	}
	var list []string
	if json.Unmarshal(input, &list) == nil {
		var n int64
		for _, s := range list {
			n += c.Count(s)
		}
		return n
	}
	var ids []int64
	if json.Unmarshal(input, &ids) == nil {
		return int64(len(ids))
	}
	var lists [][]int64
	if json.Unmarshal(input, &lists) == nil {
		var n int64
		for _, l := range lists {
			n += int64(len(l))
		}
		return n
	}
	return int64(len(input))
}
