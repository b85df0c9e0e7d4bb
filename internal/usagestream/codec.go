package usagestream

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
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
	d := scanner{b: data}
	ok := d.object(func(key []byte) bool {
		switch string(key) {
		case "mode":
			s, ok := d.str()
			q.Mode = ledger.Mode(s)
			return ok
		case "received_at":
			return d.time(&q.ReceivedAt)
		case "event":
			return d.event(&q.Event)
		}
		return false
	})
	d.space()
	return ok && d.i == len(d.b)
}

type scanner struct {
	b []byte
	i int
}

func (d *scanner) space() {
	for d.i < len(d.b) && (d.b[d.i] == ' ' || d.b[d.i] == '\t' || d.b[d.i] == '\n' || d.b[d.i] == '\r') {
		d.i++
	}
}

// object reads {"key": value, …}, calling field to read each value.
func (d *scanner) object(field func(key []byte) bool) bool {
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return false
	}
	d.i++
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return true
	}
	for {
		key, ok := d.raw()
		if !ok {
			return false
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return false
		}
		d.i++
		if !field(key) {
			return false
		}
		d.space()
		if d.i >= len(d.b) {
			return false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

// str reads a string without escapes whose bytes are valid UTF-8 (what
// encoding/json would give unchanged).
func (d *scanner) str() (string, bool) {
	s, ok := d.raw()
	return string(s), ok
}

// raw is str's bytes, not copied.
func (d *scanner) raw() ([]byte, bool) {
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[start:j]
			if !utf8.Valid(s) {
				return nil, false
			}
			d.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// int reads an integer written as strconv.FormatInt writes it.
func (d *scanner) int(v *int64) bool {
	d.space()
	start := d.i
	for d.i < len(d.b) && (d.b[d.i] == '-' || d.b[d.i] >= '0' && d.b[d.i] <= '9') {
		d.i++
	}
	tok := d.b[start:d.i]
	var buf [20]byte
	n, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil || string(strconv.AppendInt(buf[:0], n, 10)) != string(tok) {
		return false
	}
	*v = n
	return true
}

// time reads a time as time.Time.UnmarshalJSON does (a string without
// escapes: UnmarshalText of its contents).
func (d *scanner) time(t *time.Time) bool {
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return false
	}
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			if t.UnmarshalText(d.b[start:j]) != nil {
				return false
			}
			d.i = j + 1
			return true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return false
		}
	}
	return false
}

func (d *scanner) event(ev *gateway.UsageEvent) bool {
	return d.object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "idempotency_key":
			ev.IdempotencyKey, ok = d.str()
		case "account":
			ev.Account, ok = d.str()
		case "model":
			ev.Model, ok = d.str()
		case "input_tokens":
			ok = d.int(&ev.InputTokens)
		case "output_tokens":
			ok = d.int(&ev.OutputTokens)
		case "cache_hit_tokens":
			ok = d.int(&ev.CacheHitTokens)
		case "requests":
			ok = d.int(&ev.Requests)
		case "occurred_at":
			ok = d.time(&ev.OccurredAt)
		case "session_id":
			ev.SessionID, ok = d.str()
		case "project":
			ev.Project, ok = d.str()
		case "key":
			ev.Key, ok = d.str()
		}
		return ok
	})
}
