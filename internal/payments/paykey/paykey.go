// Package paykey loads, generates and redacts the key material of the payment
// channels: RSA-2048 key pairs in PEM files (or the bare base64 that Alipay's
// key tool prints) and symmetric secrets such as the WeChat Pay APIv3 key.
package paykey

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Bits is the RSA modulus size both channels require (WeChat Pay's
// WECHATPAY2-SHA256-RSA2048 scheme and Alipay's RSA2).
const Bits = 2048

// ErrNoKey reports key material that could not be found or decoded.
var ErrNoKey = errors.New("paykey: no usable key")

// Generate returns a fresh RSA-2048 private key.
func Generate() (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, Bits)
	if err != nil {
		return nil, fmt.Errorf("paykey: generate: %w", err)
	}
	return k, nil
}

// PrivatePEM encodes a private key as PKCS#8 PEM ("PRIVATE KEY").
func PrivatePEM(k *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("paykey: marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PublicPEM encodes a public key as PKIX PEM ("PUBLIC KEY").
func PublicPEM(k *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("paykey: marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// WritePair writes key as dir/name_private.pem (mode 0600) and its public half
// as dir/name_public.pem (0644), creating dir, and returns both paths.
func WritePair(dir, name string, key *rsa.PrivateKey) (privPath, pubPath string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("paykey: %w", err)
	}
	priv, err := PrivatePEM(key)
	if err != nil {
		return "", "", err
	}
	pub, err := PublicPEM(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	privPath = filepath.Join(dir, name+"_private.pem")
	pubPath = filepath.Join(dir, name+"_public.pem")
	if err := os.WriteFile(privPath, priv, 0o600); err != nil {
		return "", "", fmt.Errorf("paykey: %w", err)
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		return "", "", fmt.Errorf("paykey: %w", err)
	}
	return privPath, pubPath, nil
}

// LoadOrCreatePair loads dir/name_private.pem, or generates and writes a new
// pair when the file does not exist yet (development keys).
func LoadOrCreatePair(dir, name string) (*rsa.PrivateKey, error) {
	k, err := LoadPrivateKey(filepath.Join(dir, name+"_private.pem"))
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if k, err = Generate(); err != nil {
		return nil, err
	}
	if _, _, err := WritePair(dir, name, k); err != nil {
		return nil, err
	}
	return k, nil
}

// LoadPrivateKey reads an RSA private key file (see ParsePrivateKey).
func LoadPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("paykey: %w", err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return k, nil
}

// LoadPublicKey reads an RSA public key file (see ParsePublicKey).
func LoadPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("paykey: %w", err)
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return k, nil
}

// ParsePrivateKey decodes an RSA private key from PEM ("PRIVATE KEY" PKCS#8 or
// "RSA PRIVATE KEY" PKCS#1) or from bare base64 DER, the form Alipay's key
// generator prints.
func ParsePrivateKey(b []byte) (*rsa.PrivateKey, error) {
	der, err := derOf(b)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, fmt.Errorf("%w: not an RSA private key", ErrNoKey)
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: neither PKCS#8 nor PKCS#1 RSA private key", ErrNoKey)
}

// ParsePublicKey decodes an RSA public key from PEM ("PUBLIC KEY" PKIX,
// "RSA PUBLIC KEY" PKCS#1 or a "CERTIFICATE" such as a WeChat Pay platform
// certificate) or from bare base64 DER (Alipay's public key as shown in its
// console).
func ParsePublicKey(b []byte) (*rsa.PublicKey, error) {
	der, err := derOf(b)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		if rk, ok := k.(*rsa.PublicKey); ok {
			return rk, nil
		}
		return nil, fmt.Errorf("%w: not an RSA public key", ErrNoKey)
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	if c, err := x509.ParseCertificate(der); err == nil {
		if rk, ok := c.PublicKey.(*rsa.PublicKey); ok {
			return rk, nil
		}
	}
	return nil, fmt.Errorf("%w: no RSA public key found", ErrNoKey)
}

func derOf(b []byte) ([]byte, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		return blk.Bytes, nil
	}
	s := strings.Join(strings.Fields(string(b)), "")
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrNoKey)
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: neither PEM nor base64", ErrNoKey)
	}
	return der, nil
}

// SignSHA256 returns base64(RSASSA-PKCS1-v1_5(SHA-256(message))), the
// signature both channels use (WeChat Pay's WECHATPAY2-SHA256-RSA2048 and
// Alipay's RSA2). The error is crypto/rsa's, for the caller to wrap.
func SignSHA256(key *rsa.PrivateKey, message string) (string, error) {
	sum := sha256.Sum256([]byte(message))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// VerifySHA256 reports whether signature is a non-empty base64
// RSASSA-PKCS1-v1_5 SHA-256 signature of message by key (see SignSHA256).
func VerifySHA256(key *rsa.PublicKey, message, signature string) bool {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(message))
	return rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) == nil
}

// Serial derives a stable certificate-serial-like identifier (40 upper-case
// hex digits, the shape of WeChat Pay serials) from a public key; the sandbox
// uses it as its platform serial.
func Serial(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	sum := sha256.Sum256(der)
	return strings.ToUpper(hex.EncodeToString(sum[:20]))
}

// Secret is symmetric key material (the WeChat Pay APIv3 key). It prints and
// logs as "[REDACTED]" whatever verb or logger is used.
type Secret []byte

// String redacts the secret.
func (Secret) String() string { return "[REDACTED]" }

// GoString redacts the secret under %#v.
func (Secret) GoString() string { return "paykey.Secret([REDACTED])" }

// LogValue redacts the secret in log/slog output.
func (Secret) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// Format redacts the secret under every fmt verb, including %x and %v.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[REDACTED]")) }

// LoadSecret reads a secret from a file, trimming surrounding white space.
func LoadSecret(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("paykey: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty secret file %s", ErrNoKey, path)
	}
	return Secret(b), nil
}

// LoadOrCreateSecret reads path, or writes a new random secret of n
// characters from [A-Za-z0-9] (mode 0600) when it does not exist.
func LoadOrCreateSecret(path string, n int) (Secret, error) {
	s, err := LoadSecret(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	v := RandomString(n)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("paykey: %w", err)
	}
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("paykey: %w", err)
	}
	return Secret(v), nil
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// RandomString returns n characters from [A-Za-z0-9] drawn from crypto/rand,
// the alphabet both channels accept for nonces.
func RandomString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[randIndex(len(alnum))]
	}
	return string(b)
}

func randIndex(n int) int {
	// Rejection sampling keeps the distribution uniform.
	limit := 256 - 256%n
	var one [1]byte
	for {
		if _, err := rand.Read(one[:]); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		if int(one[0]) < limit {
			return int(one[0]) % n
		}
	}
}
