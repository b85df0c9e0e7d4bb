package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
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

// Create makes a key of mode named name and returns it with its secret,
// which is shown this once and never stored. Errors: ErrInvalidRequest.
func (s *KeyStore) Create(ctx context.Context, mode ledger.Mode, name string) (Key, string, error) {
	if mode != ledger.ModeLive && mode != ledger.ModeTest {
		return Key{}, "", invalid("mode", "must be test or live")
	}
	if strings.TrimSpace(name) == "" {
		return Key{}, "", invalid("name", "required")
	}
	secret := newSecret(mode)
	sum := sha256.Sum256([]byte(secret))
	rows, _ := s.db.Query(ctx, insertKey, secret[:keyPrefixLen], sum[:], mode, strings.TrimSpace(name))
	k, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Key])
	if err != nil {
		return Key{}, "", fmt.Errorf("gateway: create key: %w", err)
	}
	return k, secret, nil
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
	if _, err := s.db.Exec(ctx, touchKey, k.ID, now.UTC()); err != nil {
		return Key{}, fmt.Errorf("gateway: authenticate: %w", err)
	}
	s.cache.Store(sum, cachedKey{key: k, at: now})
	return k, nil
}

const revokeKey = `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`

// Revoke stops a key from working (after at most the cache TTL on other
// servers; at once on this one). Errors: ErrNotFound.
func (s *KeyStore) Revoke(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, revokeKey, id, s.now().UTC())
	if err != nil {
		return fmt.Errorf("gateway: revoke key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	s.cache.Range(func(k, v any) bool {
		if v.(cachedKey).key.ID == id {
			s.cache.Delete(k)
		}
		return true
	})
	return nil
}

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
