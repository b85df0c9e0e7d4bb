package usagestream

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/ledger"
)

func sampleQueued() gateway.QueuedUsage {
	return gateway.QueuedUsage{Mode: ledger.ModeLive, ReceivedAt: time.Date(2026, 12, 7, 16, 30, 1, 123456789, time.UTC),
		Event: gateway.UsageEvent{IdempotencyKey: "js-1-0-3-417", Account: "acct-42", Model: "deepseek-chat",
			InputTokens: 1000, OutputTokens: 250, CacheHitTokens: 12, Requests: 1,
			OccurredAt: time.Date(2026, 12, 7, 16, 30, 0, 0, time.FixedZone("", 8*3600)), SessionID: "s-1"}}
}

// FuzzQueuedCodec: the hand-written encoder writes what json.Marshal writes,
// and whatever bytes the hand-written decoder accepts, encoding/json
// decodes to the same value (what it does not accept, encoding/json reads).
func FuzzQueuedCodec(f *testing.F) {
	q := sampleQueued()
	good, _ := json.Marshal(q)
	f.Add(good, "key", "acct", "", 1000, int64(-5), int64(1<<62), int64(1765000000), 0)
	f.Add([]byte(` { "event" : {"account":"a","input_tokens":-0}, "mode":"test" } `), "<k>&\u2028", "中文", "p\x00", 0, int64(0), int64(0), int64(-62135596800), 3600)
	f.Add([]byte(`{"mode":"live","event":{"occurred_at":"2026-12-07T16:30:00.5+08:00","key":"a\"b","requests":01}}`),
		"\xff", "a\\b", "x", 1, int64(1), int64(1), int64(253402300800), 86400)
	f.Add([]byte(`{"mode":"live","received_at":null,"Mode":"test","event":{"requests":1e3}}`), "", "", "", 0, int64(0), int64(0), int64(0), -86399)
	f.Fuzz(func(t *testing.T, data []byte, key, account, project string, in int, out, cached, unix int64, offset int) {
		var fast gateway.QueuedUsage
		if fastDecodeQueued(data, &fast) {
			var want gateway.QueuedUsage
			require.NoError(t, json.Unmarshal(data, &want), "%q", data)
			require.Equal(t, want, fast, "%q", data)
		}
		got, err := decodeQueued(data)
		var want gateway.QueuedUsage
		wantErr := json.Unmarshal(data, &want)
		require.Equal(t, wantErr == nil, err == nil, "%q", data)
		if err == nil {
			require.Equal(t, want, got, "%q", data)
		}

		q := gateway.QueuedUsage{Mode: ledger.Mode(project), ReceivedAt: time.Unix(unix, int64(in)).UTC(),
			Event: gateway.UsageEvent{IdempotencyKey: key, Account: account, Model: key + account, InputTokens: int64(in),
				OutputTokens: out, CacheHitTokens: cached, Requests: -out, SessionID: account,
				OccurredAt: time.Unix(unix, 0).In(time.FixedZone("", offset)), Project: project, Key: account}}
		enc, encErr := encodeQueued(q)
		want2, wantErr2 := json.Marshal(q)
		require.Equal(t, wantErr2 == nil, encErr == nil, "%v %v", wantErr2, encErr)
		if encErr == nil {
			require.Equal(t, string(want2), string(enc))
			back, err := decodeQueued(enc)
			require.NoError(t, err)
			require.True(t, back.ReceivedAt.Equal(q.ReceivedAt))
		}
	})
}

func TestQueuedCodecTakesTheFastPath(t *testing.T) {
	data, err := encodeQueued(sampleQueued())
	require.NoError(t, err)
	var q gateway.QueuedUsage
	require.True(t, fastDecodeQueued(data, &q), "%s", data)
	require.Equal(t, "acct-42", q.Event.Account)
}

// BenchmarkQueuedCodec compares one message's encoding and decoding by
// hand and with encoding/json.
func BenchmarkQueuedCodec(b *testing.B) {
	q := sampleQueued()
	data, _ := json.Marshal(q)
	b.Run("encode/hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = encodeQueued(q)
		}
	})
	b.Run("encode/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(q)
		}
	})
	b.Run("decode/hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = decodeQueued(data)
		}
	})
	b.Run("decode/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var q gateway.QueuedUsage
			_ = json.Unmarshal(data, &q)
		}
	})
}

// FuzzBatchCodec: the batch message's hand-written encoder writes what
// json.Marshal writes; whatever bytes the hand-written batch decoder
// accepts, encoding/json decodes to the same value; decodeMessage reads a
// batch back as its events and a message of one event (the form before
// batches) as a batch of one.
func FuzzBatchCodec(f *testing.F) {
	q := sampleQueued()
	one, _ := json.Marshal(q)
	batch, _ := json.Marshal(queuedBatch{Mode: q.Mode, ReceivedAt: q.ReceivedAt, Events: []gateway.UsageEvent{q.Event, q.Event}})
	f.Add(batch, "key", "acct", "", 1000, int64(-5), int64(1<<62), int64(1765000000), 0, 2)
	f.Add(one, "k", "a", "p", 0, int64(0), int64(0), int64(0), 3600, 1)
	f.Add([]byte(` { "events" : [ {"account":"a"} , {} ], "mode":"test" } `), "<k>&\u2028", "中文", "p\x00", 0, int64(0), int64(0), int64(-62135596800), 3600, 0)
	f.Add([]byte(`{"mode":"live","events":[],"events":[{"model":"m"}]}`), "\xff", "a\\b", "x", 1, int64(1), int64(1), int64(253402300800), 86400, 3)
	f.Add([]byte(`{"mode":"live","events":null,"event":{"requests":1}}`), "", "", "", 0, int64(0), int64(0), int64(0), -86399, 1)
	f.Fuzz(func(t *testing.T, data []byte, key, account, project string, in int, out, cached, unix int64, offset, n int) {
		var fast queuedBatch
		if fastDecodeBatch(data, &fast) {
			var want queuedBatch
			require.NoError(t, json.Unmarshal(data, &want), "%q", data)
			require.Equal(t, want, fast, "%q", data)
		}
		if got, single, err := decodeMessage(data, 0); err == nil && single {
			// What a message of one event always decoded to.
			want, err := decodeQueued(data)
			require.NoError(t, err, "%q", data)
			require.Equal(t, []gateway.UsageEvent{want.Event}, got.Events, "%q", data)
			require.Equal(t, want.Mode, got.Mode)
			require.True(t, want.ReceivedAt.Equal(got.ReceivedAt))
		}

		q := queuedBatch{Mode: ledger.Mode(project), ReceivedAt: time.Unix(unix, int64(in)).UTC()}
		for i := range min(max(n, 0), 4) {
			q.Events = append(q.Events, gateway.UsageEvent{IdempotencyKey: key + strconv.Itoa(i), Account: account, Model: key + account,
				InputTokens: int64(in), OutputTokens: out, CacheHitTokens: cached, Requests: -out, SessionID: account,
				OccurredAt: time.Unix(unix+int64(i), 0).In(time.FixedZone("", offset)), Project: project, Key: account})
		}
		enc, encErr := encodeBatch(q)
		want, wantErr := json.Marshal(q)
		require.Equal(t, wantErr == nil, encErr == nil, "%v %v", wantErr, encErr)
		if encErr != nil {
			return
		}
		require.Equal(t, string(want), string(enc))
		if len(q.Events) == 0 {
			return // Publish never writes a batch without events
		}
		back, single, err := decodeMessage(enc, 2)
		require.NoError(t, err)
		require.False(t, single)
		var read queuedBatch // what encoding/json reads (bad UTF-8 is U+FFFD, an offset's seconds are gone)
		require.NoError(t, json.Unmarshal(enc, &read))
		require.Equal(t, read, back)
		require.True(t, back.ReceivedAt.Equal(q.ReceivedAt))
		require.Len(t, back.Events, len(q.Events))
	})
}

// The usual batch is read by hand, and a message of one event written as
// before batches is read as a batch of one.
func TestBatchCodecTakesTheFastPath(t *testing.T) {
	q := sampleQueued()
	data, err := encodeBatch(queuedBatch{Mode: q.Mode, ReceivedAt: q.ReceivedAt, Events: []gateway.UsageEvent{q.Event, q.Event}})
	require.NoError(t, err)
	var b queuedBatch
	require.True(t, fastDecodeBatch(data, &b), "%s", data)
	require.Len(t, b.Events, 2)
	require.Equal(t, "acct-42", b.Events[1].Account)

	old, err := json.Marshal(q)
	require.NoError(t, err)
	got, single, err := decodeMessage(old, 1)
	require.NoError(t, err)
	require.True(t, single)
	require.Equal(t, q.Mode, got.Mode)
	require.Equal(t, []gateway.UsageEvent{q.Event}, got.Events)
}

// A batch larger than the largest message is split in halves until each
// part fits: every event once, in order, the same parts (and message ids)
// each time, each part readable back.
func TestSplitBatch(t *testing.T) {
	q := queuedBatch{Mode: ledger.ModeLive, ReceivedAt: time.Now().UTC()}
	var ids []string
	for i := range 37 {
		ev := sampleQueued().Event
		ev.IdempotencyKey = "split-" + strconv.Itoa(i)
		q.Events = append(q.Events, ev)
		ids = append(ids, EventID(q.Mode, ev.IdempotencyKey))
	}
	whole, err := encodeBatch(q)
	require.NoError(t, err)
	one, err := splitBatch(q, ids, int64(len(whole)), 0, nil)
	require.NoError(t, err)
	require.Len(t, one, 1)
	require.Equal(t, whole, one[0].data)

	const limit = 1500
	parts, err := splitBatch(q, ids, limit, 0, nil)
	require.NoError(t, err)
	again, err := splitBatch(q, ids, limit, 0, nil)
	require.NoError(t, err)
	require.Equal(t, parts, again)
	require.Greater(t, len(parts), 4)
	next, seen := 0, map[string]bool{}
	for _, p := range parts {
		require.LessOrEqual(t, len(p.data), limit)
		require.Equal(t, next, p.from)
		require.False(t, seen[p.id], "two parts with one message id")
		seen[p.id] = true
		back, single, err := decodeMessage(p.data, 0)
		require.NoError(t, err)
		require.False(t, single)
		require.Len(t, back.Events, p.to-p.from)
		for i, ev := range back.Events {
			require.Equal(t, q.Events[p.from+i].IdempotencyKey, ev.IdempotencyKey)
		}
		next = p.to
	}
	require.Equal(t, len(q.Events), next)
	require.NotEqual(t, one[0].id, parts[0].id)
}
