package invalidate_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// heard records the keys a hub delivered on one topic.
type heard struct {
	mu   sync.Mutex
	keys []string
}

func (h *heard) add(k string) { h.mu.Lock(); h.keys = append(h.keys, k); h.mu.Unlock() }

func (h *heard) count(k string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, x := range h.keys {
		if x == k {
			n++
		}
	}
	return n
}

// process is one server's pool and hub, as the application role.
func process(t *testing.T, opts invalidate.Options) (*pgxpool.Pool, *invalidate.Hub, *heard) {
	return processRelayed(t, opts, nil)
}

// TestPublishReachesEveryProcess: a word published in one process's
// committed transaction reaches another process's handler within 2 s,
// once; a rolled-back one never does.
func TestPublishReachesEveryProcess(t *testing.T) {
	ctx := context.Background()
	writer, _, _ := process(t, invalidate.Options{})
	_, _, other := process(t, invalidate.Options{Poll: 100 * time.Millisecond})

	tx, err := writer.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, invalidate.Publish(ctx, tx, invalidate.RelayKey, "rolled-back"))
	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, pgx.BeginFunc(ctx, writer, func(tx pgx.Tx) error {
		return invalidate.Publish(ctx, tx, invalidate.RelayKey, "42")
	}))
	require.Eventually(t, func() bool { return other.count("42") == 1 }, 2*time.Second, 10*time.Millisecond)
	// Several polls later (each reads the word again) it was still
	// delivered once, and the rolled-back word never.
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, 1, other.count("42"))
	require.Zero(t, other.count("rolled-back"))
}

// TestPollDeliversWithoutListener: the safety net alone (no LISTEN, as
// while a listener reconnects) still delivers within 2 s.
func TestPollDeliversWithoutListener(t *testing.T) {
	ctx := context.Background()
	writer, _, _ := process(t, invalidate.Options{})
	_, _, deaf := process(t, invalidate.Options{NoListen: true})
	require.NoError(t, invalidate.Publish(ctx, writer, invalidate.RelayKey, "7"))
	require.Eventually(t, func() bool { return deaf.count("7") == 1 }, 2*time.Second, 10*time.Millisecond)
}

// TestListenerKilled: a listener whose connection the server drops
// (pg_terminate_backend) misses nothing published meanwhile.
func TestListenerKilled(t *testing.T) {
	ctx := context.Background()
	writer, _, _ := process(t, invalidate.Options{})
	_, _, victim := process(t, invalidate.Options{})
	admin := dbtest.Pool(t)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN `+invalidate.Channel+`' AND datname = current_database()`).Scan(&n))
		return n >= 2
	}, 5*time.Second, 10*time.Millisecond)
	_, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN `+invalidate.Channel+`' AND datname = current_database()`)
	require.NoError(t, err)
	require.NoError(t, invalidate.Publish(ctx, writer, invalidate.RelayKey, "during"))
	require.Eventually(t, func() bool { return victim.count("during") == 1 }, 2*time.Second, 10*time.Millisecond)
}

func TestSessionKeyHidesToken(t *testing.T) {
	k := invalidate.SessionKey("secret-token")
	require.Len(t, k, 64)
	require.NotContains(t, k, "secret")
	require.Equal(t, k, invalidate.SessionKey("secret-token"))
}

// TestAnnounceReachesEveryProcessOverRedis: with a Redis relay, a word
// announced by one process (no database row: the primary may be gone)
// reaches another process's handler within 2 s, and a process on another
// channel (another database) never hears it; without a relay Announce
// says so.
func TestAnnounceReachesEveryProcessOverRedis(t *testing.T) {
	ctx := context.Background()
	url := "redis://127.0.0.1:6379/0"
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		url = u
	}
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	channel := invalidate.Channel + ":" + t.Name() + ":" + strconv.FormatInt(time.Now().UnixNano(), 36)
	relayed := func(channel string) (*invalidate.Hub, *heard) {
		client := redis.NewClient(opts)
		t.Cleanup(func() { _ = client.Close() })
		_, hub, h := processRelayed(t, invalidate.Options{}, func(hub *invalidate.Hub) { hub.Relay(client, channel) })
		return hub, h
	}
	a, _ := relayed(channel)
	_, b := relayed(channel)
	_, other := relayed(channel + ":other")
	time.Sleep(200 * time.Millisecond) // the subscriptions are made

	require.NoError(t, a.Announce(ctx, invalidate.RelayKey, "announced"))
	require.Eventually(t, func() bool { return b.count("announced") == 1 }, 2*time.Second, 10*time.Millisecond)
	require.Zero(t, other.count("announced"), "another database's processes do not hear it")

	_, plain, _ := process(t, invalidate.Options{})
	require.ErrorIs(t, plain.Announce(ctx, invalidate.RelayKey, "x"), invalidate.ErrNoRelay)
}

// TestRevokeIsRecordedForProcessesThatStartLater: a revocation recorded
// with Revoke is seen by a process whose hub starts afterwards (it heard
// no word), until its ttl ends; another channel's (another database's)
// processes and other keys do not see it; without a relay both say so.
func TestRevokeIsRecordedForProcessesThatStartLater(t *testing.T) {
	ctx := context.Background()
	url := "redis://127.0.0.1:6379/0"
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		url = u
	}
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	channel := invalidate.Channel + ":" + t.Name() + ":" + strconv.FormatInt(time.Now().UnixNano(), 36)
	relayed := func(channel string) *invalidate.Hub {
		client := redis.NewClient(opts)
		t.Cleanup(func() { _ = client.Close() })
		_, hub, _ := processRelayed(t, invalidate.Options{}, func(hub *invalidate.Hub) { hub.Relay(client, channel) })
		return hub
	}
	a := relayed(channel)
	require.NoError(t, a.Revoke(ctx, invalidate.Session, "k1", 700*time.Millisecond))
	later, other := relayed(channel), relayed(channel+":other")
	for _, c := range []struct {
		hub   *invalidate.Hub
		topic invalidate.Topic
		key   string
		want  bool
	}{
		{later, invalidate.Session, "k1", true},
		{other, invalidate.Session, "k1", false},
		{later, invalidate.Session, "k2", false},
		{later, invalidate.RelayKey, "k1", false},
	} {
		got, err := c.hub.Revoked(ctx, c.topic, c.key)
		require.NoError(t, err)
		require.Equal(t, c.want, got, "%s %s", c.topic, c.key)
	}
	require.Eventually(t, func() bool {
		got, err := later.Revoked(ctx, invalidate.Session, "k1")
		return err == nil && !got
	}, 3*time.Second, 50*time.Millisecond, "the record ends with its ttl")

	_, plain, _ := process(t, invalidate.Options{})
	require.ErrorIs(t, plain.Revoke(ctx, invalidate.Session, "x", time.Minute), invalidate.ErrNoRelay)
	_, err = plain.Revoked(ctx, invalidate.Session, "x")
	require.ErrorIs(t, err, invalidate.ErrNoRelay)
}

// processRelayed is process with relay (when not nil) applied to its hub
// before it runs.
func processRelayed(t *testing.T, opts invalidate.Options, relay func(*invalidate.Hub)) (*pgxpool.Pool, *invalidate.Hub, *heard) {
	t.Helper()
	pool, err := db.Open(context.Background(), dbtest.AppURL(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	hub := invalidate.New(pool, opts)
	if relay != nil {
		relay(hub)
	}
	h := &heard{}
	hub.On(invalidate.RelayKey, h.add)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return pool, hub, h
}
