package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters used for new password hashes.
// Stored hashes carry their own parameters, so raising these later only
// affects new hashes (and rehashing on the next successful sign-in).
type Argon2Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// DefaultArgon2Params follow the OWASP Password Storage Cheat Sheet's first
// argon2id configuration (m=19 MiB, t=2, p=1), with a 16-byte salt and a
// 32-byte key as RFC 9106 section 4 recommends. They cost about 30-60 ms on
// one core, a sensible price on the shared two-core servers we run on; RFC
// 9106's own "second recommended option" (m=64 MiB, t=3, p=4) is stronger and
// can be set through Options.Argon2 on bigger machines.
var DefaultArgon2Params = Argon2Params{
	Memory:      19 * 1024,
	Iterations:  2,
	Parallelism: 1,
	SaltLength:  16,
	KeyLength:   32,
}

// maxPasswordBytes bounds what we hash; argon2 handles any length cheaply,
// but a form field has no business carrying more.
const maxPasswordBytes = 1024

var errMalformedHash = errors.New("auth: malformed argon2id hash")

// hashPassword returns the PHC string
// $argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<hash>, salt and hash
// in unpadded standard base64, as the PHC string format specifies.
func hashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, p.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key)), nil
}

// decodeHash parses a PHC argon2id string.
func decodeHash(encoded string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, errMalformedHash
	}
	if p.Memory == 0 || p.Iterations == 0 || p.Parallelism == 0 {
		return p, nil, nil, errMalformedHash
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(salt) == 0 {
		return p, nil, nil, errMalformedHash
	}
	if key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(key) == 0 {
		return p, nil, nil, errMalformedHash
	}
	p.SaltLength, p.KeyLength = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// verifyPassword reports whether password matches the PHC string, comparing
// in constant time, and whether the hash's parameters differ from want (so
// the caller can store a fresh hash).
func verifyPassword(password, encoded string, want Argon2Params) (ok, stale bool, err error) {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	ok = subtle.ConstantTimeCompare(got, key) == 1
	stale = p.Memory != want.Memory || p.Iterations != want.Iterations ||
		p.Parallelism != want.Parallelism || p.KeyLength != want.KeyLength || p.SaltLength != want.SaltLength
	return ok, stale, nil
}

// CheckPassword applies the password policy: at least 8 characters, at most
// 1024 bytes, not only digits, and not the login itself. It returns nil or an
// *Error matching ErrWeakPassword whose Code names the rule broken.
func CheckPassword(password, login string) error {
	if utf8.RuneCountInString(password) < 8 {
		return errPasswordTooShort
	}
	if len(password) > maxPasswordBytes {
		return errPasswordTooLong
	}
	allDigits := true
	for _, r := range password {
		if r < '0' || r > '9' {
			allDigits = false
			break
		}
	}
	if allDigits {
		return errPasswordAllDigits
	}
	if login != "" && strings.EqualFold(strings.TrimSpace(password), strings.TrimSpace(login)) {
		return errPasswordIsLogin
	}
	return nil
}

// generatedPasswordAlphabet leaves out look-alikes (0/O, 1/l/I) so a
// password read off a terminal is typed correctly.
const generatedPasswordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratePassword returns a random 20-character password (about 116 bits)
// that passes CheckPassword, for staff accounts created without one.
func GeneratePassword() string {
	const n = 20
	limit := 256 - 256%len(generatedPasswordAlphabet) // reject-sample: no modulo bias
	for {
		b := make([]byte, 0, n)
		var buf [32]byte
		for len(b) < n {
			_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go 1.24+)
			for _, v := range buf {
				if int(v) < limit && len(b) < n {
					b = append(b, generatedPasswordAlphabet[int(v)%len(generatedPasswordAlphabet)])
				}
			}
		}
		if pw := string(b); CheckPassword(pw, "") == nil {
			return pw
		}
	}
}
