package usagestream

import (
	"encoding/json"
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
