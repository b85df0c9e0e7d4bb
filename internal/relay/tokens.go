package relay

import (
	"encoding/json"
	"fmt"

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
}

// NewCounter loads the tokenizer (about 70 ms, once per process).
func NewCounter() (*Counter, error) {
	c, err := tokenizer.Get(tokenizer.O200kBase)
	if err != nil {
		return nil, fmt.Errorf("relay: tokenizer: %w", err)
	}
	return &Counter{codec: c}, nil
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
		n += tokensPerMessage + c.Count(m.Role)
		if m.Name != "" {
			n += tokensPerName + c.Count(m.Name)
		}
		n += c.contentTokens(m.Content)
		if len(m.ToolCalls) > 0 {
			n += c.Count(string(m.ToolCalls))
		}
		n += c.Count(m.ToolCallID)
	}
	for _, e := range extras {
		if len(e) > 0 && string(e) != "null" {
			n += c.Count(string(e))
		}
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
