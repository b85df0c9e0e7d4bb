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

// A message of the usage stream is a queuedBatch (the events one API batch
// queued) or one gateway.QueuedUsage (what Publish wrote before batches;
// what a dead letter holds, and Replay publishes), each as encoding/json
// writes it. encoding/json's reflection was most of this process's cost
// per consumed message, so the usual shapes are written and read by hand;
// anything else (escapes, null, other keys or number forms) goes through
// encoding/json, and FuzzQueuedCodec and FuzzBatchCodec check both agree.

// encodeQueued is json.Marshal(q), byte for byte.
func encodeQueued(q gateway.QueuedUsage) ([]byte, error) {
	ev := &q.Event
	if !jsonTime(ev.OccurredAt) || !jsonTime(q.ReceivedAt) {
		return json.Marshal(q) // the error json gives
	}
	b := make([]byte, 0, 320+len(ev.IdempotencyKey)+len(ev.Account)+len(ev.SessionID))
	b = append(b, `{"mode":`...)
	b = appendString(b, string(q.Mode))
	b = append(b, `,"event":`...)
	b = appendEvent(b, ev)
	b = append(b, `,"received_at":"`...)
	b = q.ReceivedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), nil
}

// queuedBatch is one message of the usage stream holding several events:
// those of one API batch (or of one chunk of it, when the batch is larger
// than the server's largest message) that were queued, with the key's
// mode and when the batch was received, stored once for all of them.
type queuedBatch struct {
	Mode       ledger.Mode          `json:"mode"`
	ReceivedAt time.Time            `json:"received_at"`
	Events     []gateway.UsageEvent `json:"events"`
}

// event is the batch's i-th event as a queued event of its own (the form
// a dead letter stores).
func (q *queuedBatch) event(i int) gateway.QueuedUsage {
	return gateway.QueuedUsage{Mode: q.Mode, Event: q.Events[i], ReceivedAt: q.ReceivedAt}
}

// encodeBatch is json.Marshal(q), byte for byte.
func encodeBatch(q queuedBatch) ([]byte, error) {
	size := 96
	for i := range q.Events {
		ev := &q.Events[i]
		if !jsonTime(ev.OccurredAt) {
			return json.Marshal(q)
		}
		size += 280 + len(ev.IdempotencyKey) + len(ev.Account) + len(ev.Model) + len(ev.SessionID) + len(ev.Project) + len(ev.Key)
	}
	if !jsonTime(q.ReceivedAt) {
		return json.Marshal(q)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"mode":`...)
	b = appendString(b, string(q.Mode))
	b = append(b, `,"received_at":"`...)
	b = q.ReceivedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","events":`...)
	if q.Events == nil {
		b = append(b, `null`...)
	} else {
		b = append(b, '[')
		for i := range q.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendEvent(b, &q.Events[i])
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendEvent appends json.Marshal(ev) (its times must pass jsonTime).
func appendEvent(b []byte, ev *gateway.UsageEvent) []byte {
	b = append(b, `{"idempotency_key":`...)
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
	return append(b, '}')
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

// decodeMessage reads a message of the usage stream in either form: a
// batch (queuedBatch, what Publish writes) or one queued event (what
// Publish wrote before batches, and what Replay writes), answered as a
// batch of one with single set; n is how many events a batch likely holds.
// Errors: what encoding/json says.
func decodeMessage(data []byte, n int) (q queuedBatch, single bool, err error) {
	q.Events = make([]gateway.UsageEvent, 0, max(n, 1))
	if fastDecodeBatch(data, &q) {
		return q, false, nil
	}
	var one gateway.QueuedUsage
	if fastDecodeQueued(data, &one) {
		return queuedBatch{Mode: one.Mode, ReceivedAt: one.ReceivedAt, Events: []gateway.UsageEvent{one.Event}}, true, nil
	}
	var either struct {
		queuedBatch
		Event gateway.UsageEvent `json:"event"`
	}
	if err := json.Unmarshal(data, &either); err != nil {
		return queuedBatch{}, false, err
	}
	if either.Events != nil {
		return either.queuedBatch, false, nil
	}
	either.Events = []gateway.UsageEvent{either.Event}
	return either.queuedBatch, true, nil
}

// fastDecodeBatch decodes the shape encodeBatch writes (any key order,
// whitespace between tokens) into q (whose Events may have room and no
// length) and reports false for anything else, leaving that to
// encoding/json.
func fastDecodeBatch(data []byte, q *queuedBatch) bool {
	d := jsonscan.New(data)
	lists := 0
	return d.Object(func(key []byte) bool {
		switch string(key) {
		case "mode":
			s, ok := d.Str()
			q.Mode = ledger.Mode(s)
			return ok
		case "received_at":
			return d.Time(&q.ReceivedAt)
		case "events":
			if lists++; lists > 1 {
				return false // a second list: encoding/json's merge is its own
			}
			if q.Events == nil {
				q.Events = []gateway.UsageEvent{}
			}
			return d.Array(func() bool {
				q.Events = append(q.Events, gateway.UsageEvent{})
				return readEvent(d, &q.Events[len(q.Events)-1])
			})
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
