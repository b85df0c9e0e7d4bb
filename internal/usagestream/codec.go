package usagestream

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/jsonscan"
)

// The stored message is gateway.QueuedUsage as encoding/json writes it (the
// dead-letter desk and Replay read it so, and a message published before
// this code is the same). encoding/json's reflection was most of this
// process's cost per consumed message, so the usual shape is written and
// read by hand; anything else (escapes, null, other keys or number forms)
// goes through encoding/json, and FuzzQueuedCodec checks both agree.

// encodeQueued is json.Marshal(q), byte for byte.
func encodeQueued(q gateway.QueuedUsage) ([]byte, error) {
	ev := &q.Event
	if !jsonTime(ev.OccurredAt) || !jsonTime(q.ReceivedAt) {
		return json.Marshal(q) // the error json gives
	}
	b := make([]byte, 0, 320+len(ev.IdempotencyKey)+len(ev.Account)+len(ev.SessionID))
	b = append(b, `{"mode":`...)
	b = appendString(b, string(q.Mode))
	b = append(b, `,"event":{"idempotency_key":`...)
	b = appendString(b, ev.IdempotencyKey)
	b = append(b, `,"account":`...)
	b = appendString(b, ev.Account)
	b = append(b, `,"model":`...)
	b = appendString(b, ev.Model)
	b = append(b, `,"input_tokens":`...)
	b = strconv.AppendInt(b, ev.InputTokens, 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, ev.OutputTokens, 10)
	b = append(b, `,"cache_hit_tokens":`...)
	b = strconv.AppendInt(b, ev.CacheHitTokens, 10)
	b = append(b, `,"requests":`...)
	b = strconv.AppendInt(b, ev.Requests, 10)
	b = append(b, `,"occurred_at":"`...)
	b = ev.OccurredAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","session_id":`...)
	b = appendString(b, ev.SessionID)
	if ev.Project != "" {
		b = append(b, `,"project":`...)
		b = appendString(b, ev.Project)
	}
	if ev.Key != "" {
		b = append(b, `,"key":`...)
		b = appendString(b, ev.Key)
	}
	b = append(b, `},"received_at":"`...)
	b = q.ReceivedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), nil
}

// jsonTime: time.Time.MarshalJSON writes t as RFC 3339 with nanoseconds
// (else it fails: a year outside 0–9999, an offset of a day or more).
func jsonTime(t time.Time) bool {
	_, off := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && off > -86400 && off < 86400
}

// appendString appends s as a JSON string: as is when it is printable ASCII
// that encoding/json writes unescaped, else as json.Marshal writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			e, _ := json.Marshal(s)
			return append(b, e...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// decodeQueued is json.Unmarshal into a gateway.QueuedUsage.
func decodeQueued(data []byte) (gateway.QueuedUsage, error) {
	var q gateway.QueuedUsage
	if fastDecodeQueued(data, &q) {
		return q, nil
	}
	q = gateway.QueuedUsage{}
	err := json.Unmarshal(data, &q)
	return q, err
}

// fastDecodeQueued decodes the shape encodeQueued writes (any key order,
// whitespace between tokens) and reports false for anything else, leaving
// that to encoding/json.
func fastDecodeQueued(data []byte, q *gateway.QueuedUsage) bool {
	d := jsonscan.New(data)
	return d.Object(func(key []byte) bool {
		switch string(key) {
		case "mode":
			s, ok := d.Str()
			q.Mode = ledger.Mode(s)
			return ok
		case "received_at":
			return d.Time(&q.ReceivedAt)
		case "event":
			return readEvent(d, &q.Event)
		}
		return false
	}) && d.End()
}

func readEvent(d *jsonscan.Scanner, ev *gateway.UsageEvent) bool {
	return d.Object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "idempotency_key":
			ev.IdempotencyKey, ok = d.Str()
		case "account":
			ev.Account, ok = d.Str()
		case "model":
			ev.Model, ok = d.Str()
		case "input_tokens":
			ok = d.Int(&ev.InputTokens)
		case "output_tokens":
			ok = d.Int(&ev.OutputTokens)
		case "cache_hit_tokens":
			ok = d.Int(&ev.CacheHitTokens)
		case "requests":
			ok = d.Int(&ev.Requests)
		case "occurred_at":
			ok = d.Time(&ev.OccurredAt)
		case "session_id":
			ev.SessionID, ok = d.Str()
		case "project":
			ev.Project, ok = d.Str()
		case "key":
			ev.Key, ok = d.Str()
		}
		return ok
	})
}
