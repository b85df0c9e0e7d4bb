// Package piicrypto encrypts personal data at rest (ID numbers, business licence
// files) with AES-256-GCM under named keys, so keys can be rotated, and computes
// blind indexes (HMAC-SHA256) so a uniqueness rule such as "one ID number cannot
// verify a second account" is enforced without storing the number in clear.
//
// Settings (environment, read by internal/platform/config into Config.PII):
//
//	PII_KEYS        comma-separated keyID:base64key pairs, each key 32 bytes,
//	                e.g. "k2:…,k1:…" (old keys stay listed so old rows still open)
//	PII_ACTIVE_KEY  the key id new values are sealed with
//	PII_INDEX_KEY   base64 of the 32-byte blind-index key (never rotated casually:
//	                changing it changes every index value)
//
// With none set, a fixed development key is used; IsDevKey reports it, and
// FromSettings refuses it when production is true.
package piicrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Errors returned by this package.
var (
	// ErrUnknownKey: the sealed value names a key id that is not configured.
	ErrUnknownKey = errors.New("piicrypto: unknown key id")
	// ErrMalformed: the value is not something Seal produced.
	ErrMalformed = errors.New("piicrypto: malformed sealed value")
	// ErrDecrypt: authentication failed (wrong key, wrong aad, or tampering).
	ErrDecrypt = errors.New("piicrypto: decryption failed")
	// ErrConfig: the key settings are invalid.
	ErrConfig = errors.New("piicrypto: invalid key settings")
)

// version is the first byte of every sealed value.
const version byte = 1

// DevKeyID is the id of the built-in development key.
const DevKeyID = "dev"

// devKey and devIndexKey are public constants: anything sealed with them is not secret.
var (
	devKey      = sha256.Sum256([]byte("credits development PII key: not secret, refused in production"))
	devIndexKey = sha256.Sum256([]byte("credits development blind-index key: not secret, refused in production"))
)

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Sealer encrypts and decrypts personal data. It is safe for concurrent use.
type Sealer struct {
	aeads  map[string]cipher.AEAD
	active string
	dev    bool
}

// New returns a Sealer over keys (key id → 32-byte AES-256 key) that seals with
// activeKeyID. Key ids are 1-32 characters of [A-Za-z0-9_-]. It returns ErrConfig
// for a bad id, a key that is not 32 bytes, or an active id not among keys.
func New(keys map[string][]byte, activeKeyID string) (*Sealer, error) {
	s := &Sealer{aeads: make(map[string]cipher.AEAD, len(keys)), active: activeKeyID}
	for id, k := range keys {
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("%w: key id %q must be 1-32 characters of A-Z a-z 0-9 _ -", ErrConfig, id)
		}
		if len(k) != 32 {
			return nil, fmt.Errorf("%w: key %q is %d bytes, need 32", ErrConfig, id, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrConfig, id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrConfig, id, err)
		}
		s.aeads[id] = aead
		if hmac.Equal(k, devKey[:]) {
			s.dev = true
		}
	}
	if _, ok := s.aeads[activeKeyID]; !ok {
		return nil, fmt.Errorf("%w: active key %q is not among the configured keys", ErrConfig, activeKeyID)
	}
	return s, nil
}

// Dev returns a Sealer with only the built-in development key.
func Dev() *Sealer {
	s, err := New(map[string][]byte{DevKeyID: devKey[:]}, DevKeyID)
	if err != nil {
		panic(err)
	}
	return s
}

// IsDevKey reports whether the development key is configured at all (active or
// not): production must refuse to start then.
func (s *Sealer) IsDevKey() bool { return s.dev }

// ActiveKeyID is the key id new values are sealed with.
func (s *Sealer) ActiveKeyID() string { return s.active }

// KeyIDs lists the configured key ids, sorted.
func (s *Sealer) KeyIDs() []string {
	ids := make([]string, 0, len(s.aeads))
	for id := range s.aeads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Seal encrypts plaintext with the active key. aad binds the value to its place
// (e.g. "identity.id_number:account=42"): Open must be given the same aad, so a
// ciphertext copied to another row does not open. The result is
//
//	version(1) | len(keyID)(1) | keyID | nonce(12) | ciphertext+tag(16)
//
// and is meant for a bytea column. The nonce is random per call.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	aead := s.aeads[s.active]
	header := make([]byte, 0, 2+len(s.active)+aead.NonceSize())
	header = append(header, version, byte(len(s.active)))
	header = append(header, s.active...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("piicrypto: seal: %w", err)
	}
	out := append(header, nonce...)
	return aead.Seal(out, nonce, plaintext, additional(out[:len(header)], aad)), nil
}

// SealString is Seal for text, returning base64 (standard, padded) for a text column.
func (s *Sealer) SealString(plaintext, aad string) (string, error) {
	b, err := s.Seal([]byte(plaintext), []byte(aad))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Open decrypts a value produced by Seal under any configured key. It returns
// ErrMalformed, ErrUnknownKey or ErrDecrypt (wrong aad or tampered value).
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	keyID, rest, err := split(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := s.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, keyID)
	}
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	header := sealed[:2+len(keyID)]
	nonce, ct := rest[:aead.NonceSize()], rest[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, additional(header, aad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// OpenString reverses SealString.
func (s *Sealer) OpenString(sealed, aad string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return "", fmt.Errorf("%w: not base64", ErrMalformed)
	}
	pt, err := s.Open(b, []byte(aad))
	return string(pt), err
}

// KeyID returns the id of the key a sealed value was made with, without
// decrypting it (for rotation jobs: re-seal rows whose key is not active).
func KeyID(sealed []byte) (string, error) {
	id, _, err := split(sealed)
	return id, err
}

// NeedsRotation reports whether sealed was made with a key other than the active one.
func (s *Sealer) NeedsRotation(sealed []byte) bool {
	id, err := KeyID(sealed)
	return err == nil && id != s.active
}

// Reseal opens sealed and seals the plaintext again under the active key, with
// the same aad. It returns the errors of Open.
func (s *Sealer) Reseal(sealed, aad []byte) ([]byte, error) {
	pt, err := s.Open(sealed, aad)
	if err != nil {
		return nil, err
	}
	return s.Seal(pt, aad)
}

func split(sealed []byte) (keyID string, rest []byte, err error) {
	if len(sealed) < 2 || sealed[0] != version {
		return "", nil, fmt.Errorf("%w: bad version", ErrMalformed)
	}
	n := int(sealed[1])
	if n == 0 || len(sealed) < 2+n {
		return "", nil, fmt.Errorf("%w: bad key id", ErrMalformed)
	}
	return string(sealed[2 : 2+n]), sealed[2+n:], nil
}

// additional authenticates the header (version and key id) together with the
// caller's aad, length-prefixed so the two cannot be confused.
func additional(header, aad []byte) []byte {
	out := make([]byte, 0, 1+len(header)+len(aad))
	out = append(out, byte(len(header)))
	out = append(out, header...)
	return append(out, aad...)
}

// BlindIndex computes deterministic, keyed fingerprints of personal data for
// equality lookups and unique constraints. Without the key, an index value does
// not reveal the input (an ID number has too few possibilities for a plain hash).
type BlindIndex struct {
	key []byte
	dev bool
}

// NewBlindIndex returns a BlindIndex over a key of at least 32 bytes (ErrConfig otherwise).
func NewBlindIndex(key []byte) (*BlindIndex, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("%w: blind-index key is %d bytes, need at least 32", ErrConfig, len(key))
	}
	return &BlindIndex{key: append([]byte(nil), key...), dev: hmac.Equal(key, devIndexKey[:])}, nil
}

// DevBlindIndex returns the BlindIndex over the built-in development key.
func DevBlindIndex() *BlindIndex {
	return &BlindIndex{key: devIndexKey[:], dev: true}
}

// IsDevKey reports whether this is the development key.
func (b *BlindIndex) IsDevKey() bool { return b.dev }

// Sum returns hex(HMAC-SHA256(key, domain 0x00 value)): 64 lower-case hex
// characters. domain separates kinds of data ("resident_id", "credit_code") so
// equal strings of different kinds do not collide. Callers pass the normalised
// value (identity.Normalize) so the same number always gives the same index.
func (b *BlindIndex) Sum(domain, value string) string {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// ParseKeys parses PII_KEYS: comma-separated keyID:base64key pairs (standard or
// URL-safe base64, padded or not). It returns ErrConfig for a malformed entry or
// a duplicate id.
func ParseKeys(spec string) (map[string][]byte, error) {
	keys := map[string][]byte{}
	for entry := range strings.SplitSeq(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("%w: PII_KEYS entry must be keyID:base64key", ErrConfig)
		}
		k, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("%w: PII_KEYS key %q is not base64", ErrConfig, id)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("%w: PII_KEYS lists key %q twice", ErrConfig, id)
		}
		keys[id] = k
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			return k, nil
		}
	}
	return nil, errors.New("not base64")
}

// FromSettings builds the Sealer and BlindIndex from the three settings' values
// (PII_KEYS, PII_ACTIVE_KEY, PII_INDEX_KEY). Empty keys and index key select the
// development keys; when production is true those are refused with ErrConfig.
// With several keys and no active id, ErrConfig asks for PII_ACTIVE_KEY.
func FromSettings(keysSpec, activeKeyID, indexKey string, production bool) (*Sealer, *BlindIndex, error) {
	var s *Sealer
	if strings.TrimSpace(keysSpec) == "" {
		s = Dev()
	} else {
		keys, err := ParseKeys(keysSpec)
		if err != nil {
			return nil, nil, err
		}
		if activeKeyID == "" && len(keys) == 1 {
			for id := range keys {
				activeKeyID = id
			}
		}
		if activeKeyID == "" {
			return nil, nil, fmt.Errorf("%w: PII_ACTIVE_KEY must name one of the PII_KEYS ids", ErrConfig)
		}
		if s, err = New(keys, activeKeyID); err != nil {
			return nil, nil, err
		}
	}
	var b *BlindIndex
	if strings.TrimSpace(indexKey) == "" {
		b = DevBlindIndex()
	} else {
		k, err := decodeKey(indexKey)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: PII_INDEX_KEY is not base64", ErrConfig)
		}
		if b, err = NewBlindIndex(k); err != nil {
			return nil, nil, err
		}
	}
	if production && (s.IsDevKey() || b.IsDevKey()) {
		return nil, nil, fmt.Errorf("%w: production refuses the development PII keys: set PII_KEYS, PII_ACTIVE_KEY and PII_INDEX_KEY", ErrConfig)
	}
	return s, b, nil
}
