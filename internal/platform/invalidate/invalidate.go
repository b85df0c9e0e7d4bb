// Package invalidate tells every process on the database to drop what it
// caches of something that changed: a signed-out session, a revoked API
// key, the business settings, a rate card. Each process caches these for
// speed (web.SessionCache, relay.Keys, gateway.KeyStore, settings.Store,
// the card schedules); without a word from the writer another process
// would go on trusting its copy until the copy expires.
//
// A writer calls Publish, in its own transaction when it has one: that
// inserts a cache_invalidations row and sends its id, topic and key with
// pg_notify, so the word goes out exactly when the change commits. Every
// process runs a Hub, which LISTENs on the channel and, as a safety net
// for a notification lost while its listener reconnects, polls the rows of
// the last Window every Poll interval. A Hub that could not poll for longer
// than the window tells its handlers to forget everything of their topic.
//
// A change the database cannot take (a sign-out while no primary answers,
// a failover) cannot publish a row either: with a Redis relay (Relay) its
// writer announces it over Redis pub/sub instead (Announce), and every Hub
// delivers what it hears there too; a revocation is also recorded there
// (Revoke), for the processes not subscribed at that moment (Revoked).
package invalidate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/seed75218f88/credits/internal/platform/db"
)

// Channel is the PostgreSQL notification channel.
const Channel = "credits_invalidate"

// Topic names a kind of cached thing; the key names one of them.
type Topic string

// The topics.
const (
	// Session: a portal or back-office session was deleted (sign-out);
	// the key is SessionKey(token), never the token.
	Session Topic = "session"
	// RelayKey: a customer API key of the OpenAI-compatible gateway was
	// revoked; the key is its id.
	RelayKey Topic = "relay_key"
	// ServiceKey: a service key of the gateway API was revoked; the key is
	// its id.
	ServiceKey Topic = "service_key"
	// Settings: the business settings changed; no key.
	Settings Topic = "settings"
	// RateCard: a rate card was published or an account's prices changed;
	// no key.
	RateCard Topic = "rate_card"
	// CostCard: a cost card was published; no key.
	CostCard Topic = "cost_card"
	// Account: something the gateway caches of an account changed (its
	// limits, verification, model allow-list, own rate card, status,
	// enforcement or trial cap); the key is its id. Sent by the tables'
	// triggers (migration 001690), so no writer can forget to.
	Account Topic = "account"
	// Tiers: the tier table changed (its trigger sends it); no key.
	Tiers Topic = "tiers"
)

// Defaults of Options.
const (
	DefaultPoll   = time.Second
	DefaultWindow = 15 * time.Second
)

// SessionKey is the key of a session's word: its token's SHA-256, so the
// token itself is never written down or sent.
func SessionKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// cache_invalidate (migration 001690) is the one home of the row and the
// notification: the tables whose rows the gateway caches per account call
// it from triggers too (topic Account).
const publish = `SELECT cache_invalidate($1, $2)`

// Publish tells every process that topic's key changed. Run on a
// transaction, the word goes out when it commits and not at all if it
// rolls back; run on the pool, at once. Errors: database errors.
func Publish(ctx context.Context, q db.DBTX, topic Topic, key string) error {
	if _, err := q.Exec(ctx, publish, string(topic), key); err != nil {
		return fmt.Errorf("invalidate: publish %s: %w", topic, err)
	}
	return nil
}

// Options tune a Hub; the zero value is right for production.
type Options struct {
	// Poll is how often the Hub reads the recent rows (DefaultPoll).
	Poll time.Duration
	// Window is how far back each poll reads (DefaultWindow).
	Window time.Duration
	// NoListen leaves LISTEN out, so only the poll delivers (tests of the
	// safety net).
	NoListen bool
	// Logger receives lost connections (discarded by default).
	Logger *slog.Logger
}

// Hub delivers every process's words to this process's handlers, each
// word once.
type Hub struct {
	pool *pgxpool.Pool
	opts Options

	redis   redis.UniversalClient // the relay (Relay); nil: none
	channel string

	mu       sync.Mutex
	handlers map[Topic][]func(key string)
	seen     map[int64]time.Time
	polled   time.Time // last successful poll
}

// New returns a Hub over pool; call Run to start it.
func New(pool *pgxpool.Pool, opts Options) *Hub {
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Window <= opts.Poll {
		opts.Window = max(DefaultWindow, 4*opts.Poll)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{pool: pool, opts: opts, handlers: map[Topic][]func(string){}, seen: map[int64]time.Time{}}
}

// On calls fn with the key of each word on topic, from the Hub's
// goroutines (fn must be safe for concurrent use, and quick); an empty key
// means forget everything of the topic (the Hub may have missed words).
func (h *Hub) On(topic Topic, fn func(key string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handlers[topic] = append(h.handlers[topic], fn)
}

// Relay, called before Run, carries words over Redis too: the Hub delivers
// what it hears on channel (one per database: every process on it, and no
// other, must use the same), and Announce sends there.
func (h *Hub) Relay(client redis.UniversalClient, channel string) {
	h.redis, h.channel = client, channel
}

// ErrNoRelay is Announce's answer without a Relay.
var ErrNoRelay = errors.New("invalidate: no Redis relay")

// Announce tells every process's Hub, over Redis only, that topic's key
// changed: for a change the database could not take yet (a sign-out while
// no primary answers), so no row or notification can carry the word. A
// process not subscribed at that moment misses it. Errors: ErrNoRelay,
// Redis errors.
func (h *Hub) Announce(ctx context.Context, topic Topic, key string) error {
	if h.redis == nil {
		return ErrNoRelay
	}
	if err := h.redis.Publish(ctx, h.channel, string(topic)+":"+key).Err(); err != nil {
		return fmt.Errorf("invalidate: announce %s: %w", topic, err)
	}
	return nil
}

// Revoke records in Redis, for ttl, that topic's key was revoked (a
// sign-out while no primary answers): Announce's word reaches only the
// processes subscribed at that moment, this record also one that starts or
// reconnects later, which asks Revoked when it reads the thing from the
// database. Errors: ErrNoRelay, Redis errors.
func (h *Hub) Revoke(ctx context.Context, topic Topic, key string, ttl time.Duration) error {
	if h.redis == nil {
		return ErrNoRelay
	}
	if err := h.redis.Set(ctx, h.revokedKey(topic, key), "1", ttl).Err(); err != nil {
		return fmt.Errorf("invalidate: revoke %s: %w", topic, err)
	}
	return nil
}

// Revoked reports whether Revoke recorded topic's key and the record has
// not expired. Errors: ErrNoRelay, Redis errors.
func (h *Hub) Revoked(ctx context.Context, topic Topic, key string) (bool, error) {
	if h.redis == nil {
		return false, ErrNoRelay
	}
	n, err := h.redis.Exists(ctx, h.revokedKey(topic, key)).Result()
	if err != nil {
		return false, fmt.Errorf("invalidate: revoked %s: %w", topic, err)
	}
	return n > 0, nil
}

// revokedKey is Revoke's Redis key, under the relay's channel name (one per
// database).
func (h *Hub) revokedKey(topic Topic, key string) string {
	return h.channel + ":revoked:" + string(topic) + ":" + key
}

// Run listens and polls (and hears the relay) until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if !h.opts.NoListen {
		wg.Add(1)
		go func() { defer wg.Done(); h.listen(ctx) }()
	}
	if h.redis != nil {
		wg.Add(1)
		go func() { defer wg.Done(); h.hear(ctx) }()
	}
	h.pollLoop(ctx)
	wg.Wait()
}

// hear delivers the relay's words (go-redis resubscribes after a lost
// connection by itself).
func (h *Hub) hear(ctx context.Context) {
	sub := h.redis.Subscribe(ctx, h.channel)
	defer sub.Close()
	words := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-words:
			if !ok {
				return
			}
			if topic, key, ok := strings.Cut(m.Payload, ":"); ok {
				h.handle(Topic(topic), key)
			}
		}
	}
}

func (h *Hub) listen(ctx context.Context) {
	for ctx.Err() == nil {
		if err := h.listenOnce(ctx); err != nil && ctx.Err() == nil {
			h.opts.Logger.Warn("invalidate: listener lost, the poll delivers meanwhile", "error", err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (h *Hub) listenOnce(ctx context.Context) error {
	// A connection of its own, not the pool's: a listener holds it for good.
	conn, err := pgx.ConnectConfig(ctx, h.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		id, rest, ok := strings.Cut(n.Payload, ":")
		topic, key, ok2 := strings.Cut(rest, ":")
		n64, err := strconv.ParseInt(id, 10, 64)
		if !ok || !ok2 || err != nil {
			continue
		}
		h.deliver(n64, Topic(topic), key)
	}
}

const recent = `SELECT id, topic, key FROM cache_invalidations WHERE at > clock_timestamp() - $1::float8 * interval '1 second' ORDER BY id`

const prune = `DELETE FROM cache_invalidations WHERE at < clock_timestamp() - interval '1 hour'`

func (h *Hub) pollLoop(ctx context.Context) {
	tick := time.NewTicker(h.opts.Poll)
	defer tick.Stop()
	lastPrune := time.Now()
	for {
		if err := h.poll(ctx); err != nil && ctx.Err() == nil {
			h.opts.Logger.Warn("invalidate: poll", "error", err.Error())
		}
		if time.Since(lastPrune) > time.Minute {
			lastPrune = time.Now()
			_, _ = h.pool.Exec(ctx, prune)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poll delivers the rows of the window; after a gap longer than the
// window (the database was out of reach) every handler forgets all.
func (h *Hub) poll(ctx context.Context) error {
	qctx, cancel := context.WithTimeout(ctx, h.opts.Window/2)
	defer cancel()
	rows, _ := h.pool.Query(qctx, recent, h.opts.Window.Seconds())
	type word struct {
		ID    int64  `db:"id"`
		Topic string `db:"topic"`
		Key   string `db:"key"`
	}
	words, err := pgx.CollectRows(rows, pgx.RowToStructByName[word])
	if err != nil {
		return err
	}
	now := time.Now()
	h.mu.Lock()
	gap := !h.polled.IsZero() && now.Sub(h.polled) > h.opts.Window-h.opts.Poll
	h.polled = now
	for id, at := range h.seen {
		if now.Sub(at) > 2*h.opts.Window {
			delete(h.seen, id)
		}
	}
	h.mu.Unlock()
	if gap {
		h.forgetAll()
	}
	for _, w := range words {
		h.deliver(w.ID, Topic(w.Topic), w.Key)
	}
	return nil
}

// deliver calls topic's handlers unless word id was delivered already.
func (h *Hub) deliver(id int64, topic Topic, key string) {
	h.mu.Lock()
	if _, done := h.seen[id]; done {
		h.mu.Unlock()
		return
	}
	h.seen[id] = time.Now()
	h.mu.Unlock()
	h.handle(topic, key)
}

// handle calls topic's handlers with key.
func (h *Hub) handle(topic Topic, key string) {
	h.mu.Lock()
	fns := append([]func(string){}, h.handlers[topic]...)
	h.mu.Unlock()
	for _, fn := range fns {
		fn(key)
	}
}

func (h *Hub) forgetAll() {
	h.mu.Lock()
	var fns []func(string)
	for _, hs := range h.handlers {
		fns = append(fns, hs...)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn("")
	}
}
