package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/invalidate"
)

// Key is a service key as stored: never the secret, only its prefix.
type Key struct {
	ID         int64       `db:"id"`
	Prefix     string      `db:"prefix"`
	Mode       ledger.Mode `db:"mode"`
	Name       string      `db:"name"`
	CreatedAt  time.Time   `db:"created_at"`
	RevokedAt  *time.Time  `db:"revoked_at"`
	LastUsedAt *time.Time  `db:"last_used_at"`
}

// Actor is how the key appears in the ledger's actor column.
func (k Key) Actor() string { return fmt.Sprintf("api_key:%d:%s", k.ID, k.Name) }

// keyPrefixLen is how much of the secret is stored in clear for lookup:
// "sk_live_" plus 8 random characters.
const keyPrefixLen = 16

// secretChars is the base62 alphabet of a key's random part.
const secretChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newSecret returns sk_<mode>_ followed by 43 base62 characters (256 random bits).
func newSecret(mode ledger.Mode) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	n := new(big.Int).SetBytes(b[:])
	base := big.NewInt(62)
	out := make([]byte, 43)
	for i := range out {
		var r big.Int
		n.DivMod(n, base, &r)
		out[i] = secretChars[r.Int64()]
	}
	return "sk_" + string(mode) + "_" + string(out)
}

// KeyStore creates and checks service keys, caching verified keys briefly so
// the hot path does not ask the database on every call.
type KeyStore struct {
	db    db.DBTX
	ttl   time.Duration
	now   func() time.Time
	cache sync.Map // sha256(secret) -> cachedKey
}

type cachedKey struct {
	key Key
	at  time.Time
}

// NewKeyStore returns a store over q; verified keys are trusted for ttl
// (a revoked key keeps working on a server for at most ttl).
func NewKeyStore(q db.DBTX, ttl time.Duration) *KeyStore {
	if ttl <= 0 {
		ttl = 5 * time.Second
	}
	return &KeyStore{db: q, ttl: ttl, now: time.Now}
}

const insertKey = `
INSERT INTO api_keys (prefix, hash, mode, name) VALUES ($1, $2, $3, $4)
RETURNING id, prefix, mode, name, created_at, revoked_at, last_used_at`

// KeyNameMaxLen is the longest name a key may have, in characters.
const KeyNameMaxLen = 64

// Create makes a key of mode named name and returns it with its secret,
// which is shown this once and never stored. Errors: ErrInvalidRequest.
func (s *KeyStore) Create(ctx context.Context, mode ledger.Mode, name string) (Key, string, error) {
	return s.create(ctx, s.db, mode, name)
}

// CreateTx is Create on the caller's transaction tx, so the key commits
// with what else tx writes (the back office's audit row) or not at all.
// Errors: ErrInvalidRequest (with a *fielderr.Errors on "mode" or "name").
func (s *KeyStore) CreateTx(ctx context.Context, tx pgx.Tx, mode ledger.Mode, name string) (Key, string, error) {
	return s.create(ctx, tx, mode, name)
}

func (s *KeyStore) create(ctx context.Context, q db.DBTX, mode ledger.Mode, name string) (Key, string, error) {
	if mode != ledger.ModeLive && mode != ledger.ModeTest {
		return Key{}, "", invalidCode("mode", "invalid_key_mode", "must be test or live")
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return Key{}, "", invalidCode("name", "required", "required")
	}
	if utf8.RuneCountInString(name) > KeyNameMaxLen {
		return Key{}, "", invalidCode("name", "too_long", fmt.Sprintf("at most %d characters", KeyNameMaxLen), "max", strconv.Itoa(KeyNameMaxLen))
	}
	secret := newSecret(mode)
	sum := sha256.Sum256([]byte(secret))
	rows, _ := q.Query(ctx, insertKey, secret[:keyPrefixLen], sum[:], mode, name)
	k, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Key])
	if err != nil {
		return Key{}, "", fmt.Errorf("gateway: create key: %w", err)
	}
	return k, secret, nil
}

const keyColumns = `id, prefix, mode, name, created_at, revoked_at, last_used_at`

const listKeys = `SELECT ` + keyColumns + ` FROM api_keys ORDER BY id DESC`

// List returns every key, revoked ones too, newest first (a deployment
// has a handful). Errors: database errors.
func (s *KeyStore) List(ctx context.Context) ([]Key, error) {
	rows, _ := s.db.Query(ctx, listKeys)
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByName[Key])
	if err != nil {
		return nil, fmt.Errorf("gateway: list keys: %w", err)
	}
	return keys, nil
}

const selectKey = `
SELECT id, prefix, mode, name, created_at, revoked_at, last_used_at, hash
FROM api_keys WHERE prefix = $1`

const touchKey = `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`

// Authenticate returns the live key whose secret this is. It looks the key
// up by prefix and compares the SHA-256 in constant time; a verified key is
// cached for the store's TTL, and last_used_at is written on each cache
// miss (so at most once per TTL). Errors: ErrUnauthorized.
func (s *KeyStore) Authenticate(ctx context.Context, secret string) (Key, error) {
	if len(secret) < keyPrefixLen+16 || !(strings.HasPrefix(secret, "sk_live_") || strings.HasPrefix(secret, "sk_test_")) {
		return Key{}, ErrUnauthorized
	}
	sum := sha256.Sum256([]byte(secret))
	now := s.now()
	if v, ok := s.cache.Load(sum); ok {
		c := v.(cachedKey)
		if now.Sub(c.at) < s.ttl {
			return c.key, nil
		}
		s.cache.Delete(sum)
	}
	var k Key
	var hash []byte
	err := s.db.QueryRow(ctx, selectKey, secret[:keyPrefixLen]).
		Scan(&k.ID, &k.Prefix, &k.Mode, &k.Name, &k.CreatedAt, &k.RevokedAt, &k.LastUsedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, ErrUnauthorized
	}
	if err != nil {
		return Key{}, fmt.Errorf("gateway: authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(hash, sum[:]) != 1 || k.RevokedAt != nil {
		return Key{}, ErrUnauthorized
	}
	// Without a primary (a failover) the key was read from the standby for
	// a GET: its last use is written at its next check instead, and a
	// write it authorizes fails on its own.
	if _, err := s.db.Exec(ctx, touchKey, k.ID, now.UTC()); err != nil && !db.NoPrimary(err) {
		return Key{}, fmt.Errorf("gateway: authenticate: %w", err)
	}
	s.cache.Store(sum, cachedKey{key: k, at: now})
	return k, nil
}

// revokeKey revokes a key unless it already is: one statement, so two
// revocations racing each other cannot both succeed.
const revokeKey = `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
RETURNING ` + keyColumns

const keyExists = `SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = $1)`

// Revoke stops a key from working: at once on this server, on the others
// when they hear invalidate.ServiceKey (after at most the cache TTL should
// that word be lost). Errors: ErrNotFound, ErrKeyRevoked.
func (s *KeyStore) Revoke(ctx context.Context, id int64) error {
	if _, err := s.revoke(ctx, s.db, id); err != nil {
		return err
	}
	s.Forget(id)
	return nil
}

// RevokeTx is Revoke on the caller's transaction tx and returns the
// revoked key. It cannot drop this server's cache itself: call Forget(id)
// once tx has committed, or a request in between may cache the key as
// still valid for the TTL. Errors: ErrNotFound, ErrKeyRevoked.
func (s *KeyStore) RevokeTx(ctx context.Context, tx pgx.Tx, id int64) (Key, error) {
	return s.revoke(ctx, tx, id)
}

func (s *KeyStore) revoke(ctx context.Context, q db.DBTX, id int64) (Key, error) {
	rows, _ := q.Query(ctx, revokeKey, id, s.now().UTC())
	k, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Key])
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := q.QueryRow(ctx, keyExists, id).Scan(&exists); err != nil {
			return Key{}, fmt.Errorf("gateway: revoke key: %w", err)
		}
		if exists {
			return Key{}, ErrKeyRevoked
		}
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("gateway: revoke key: %w", err)
	}
	// Every other process drops the key when this commits.
	if err := invalidate.Publish(ctx, q, invalidate.ServiceKey, strconv.FormatInt(id, 10)); err != nil {
		return Key{}, err
	}
	return k, nil
}

// Forget drops this server's cached verification of key id, so its next
// use is checked against the database.
func (s *KeyStore) Forget(id int64) {
	s.cache.Range(func(k, v any) bool {
		if v.(cachedKey).key.ID == id {
			s.cache.Delete(k)
		}
		return true
	})
}

// ForgetAll drops every cached verification (words may have been missed:
// invalidate.Hub's empty key).
func (s *KeyStore) ForgetAll() { s.cache.Clear() }

// EnsureKey stores a key with a secret chosen by the caller unless a key
// with its prefix exists (the demo sandbox key `seed` prints on every run).
// Never use it for live keys. Errors: ErrInvalidRequest.
func (s *KeyStore) EnsureKey(ctx context.Context, mode ledger.Mode, name, secret string) error {
	if mode != ledger.ModeTest || !strings.HasPrefix(secret, "sk_test_") || len(secret) < keyPrefixLen+16 {
		return invalid("secret", "a sandbox secret sk_test_… of at least 32 characters")
	}
	sum := sha256.Sum256([]byte(secret))
	const q = `INSERT INTO api_keys (prefix, hash, mode, name) VALUES ($1, $2, $3, $4) ON CONFLICT (prefix) DO NOTHING`
	if _, err := s.db.Exec(ctx, q, secret[:keyPrefixLen], sum[:], mode, name); err != nil {
		return fmt.Errorf("gateway: ensure key: %w", err)
	}
	return nil
}
