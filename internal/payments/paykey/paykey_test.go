package paykey

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestKeyFormats(t *testing.T) {
	t.Parallel()
	k, err := Generate()
	require.NoError(t, err)
	dir := t.TempDir()
	privPath, pubPath, err := WritePair(dir, "merchant", k)
	require.NoError(t, err)

	st, err := os.Stat(privPath)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "private keys are readable by their owner only")

	t.Run("PKCS8File", func(t *testing.T) {
		got, err := LoadPrivateKey(privPath)
		require.NoError(t, err)
		require.True(t, got.Equal(k))
	})
	t.Run("PKCS1PEM", func(t *testing.T) {
		b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		got, err := ParsePrivateKey(b)
		require.NoError(t, err)
		require.True(t, got.Equal(k))
	})
	t.Run("BareBase64AsAlipayPrints", func(t *testing.T) {
		blk, _ := pem.Decode(mustPEM(t, k))
		der := blk.Bytes
		got, err := ParsePrivateKey([]byte(wrap(der)))
		require.NoError(t, err)
		require.True(t, got.Equal(k))
	})
	t.Run("PKIXPublicFile", func(t *testing.T) {
		got, err := LoadPublicKey(pubPath)
		require.NoError(t, err)
		require.True(t, got.Equal(&k.PublicKey))
	})
	t.Run("Certificate", func(t *testing.T) {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "platform"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		require.NoError(t, err)
		got, err := ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		require.NoError(t, err)
		require.True(t, got.Equal(&k.PublicKey))
	})
	t.Run("Garbage", func(t *testing.T) {
		_, err := ParsePrivateKey([]byte("not a key"))
		require.ErrorIs(t, err, ErrNoKey)
		_, err = ParsePublicKey([]byte(""))
		require.ErrorIs(t, err, ErrNoKey)
	})
	t.Run("MissingFile", func(t *testing.T) {
		_, err := LoadPrivateKey(filepath.Join(dir, "nope.pem"))
		require.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("LoadOrCreateKeepsKey", func(t *testing.T) {
		a, err := LoadOrCreatePair(dir, "fresh")
		require.NoError(t, err)
		b, err := LoadOrCreatePair(dir, "fresh")
		require.NoError(t, err)
		require.True(t, a.Equal(b))
	})
}

func mustPEM(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func wrap(der []byte) string {
	s := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "X", Bytes: der})))
	lines := strings.Split(s, "\n")
	return strings.Join(lines[1:len(lines)-1], "\n")
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := Secret("a7f3c1e9b2d84f6a0c5e7b9d1f3a5c7e")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		require.NotContains(t, fmt.Sprintf(verb, s), "a7f3", verb)
	}
	require.NotContains(t, fmt.Sprintf("%+v", struct{ Key Secret }{s}), "a7f3")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "apiv3", s)
	require.NotContains(t, buf.String(), "a7f3")
	require.Contains(t, buf.String(), "REDACTED")
	require.Len(t, []byte(s), 32, "the bytes are still usable as a key")

	p := filepath.Join(t.TempDir(), "v3.key")
	got, err := LoadOrCreateSecret(p, 32)
	require.NoError(t, err)
	require.Len(t, got, 32)
	again, err := LoadSecret(p)
	require.NoError(t, err)
	require.Equal(t, []byte(got), []byte(again))
}

func TestSerialShape(t *testing.T) {
	t.Parallel()
	k, err := Generate()
	require.NoError(t, err)
	s := Serial(&k.PublicKey)
	require.Regexp(t, `^[0-9A-F]{40}$`, s)
	require.Equal(t, s, Serial(&k.PublicKey))
}

func TestSignSHA256(t *testing.T) {
	t.Parallel()
	k, err := Generate()
	require.NoError(t, err)
	other, err := Generate()
	require.NoError(t, err)

	sig, err := SignSHA256(k, "out_trade_no=T1&total_amount=100.00")
	require.NoError(t, err)
	require.True(t, VerifySHA256(&k.PublicKey, "out_trade_no=T1&total_amount=100.00", sig))
	require.False(t, VerifySHA256(&k.PublicKey, "out_trade_no=T1&total_amount=999.00", sig), "a changed amount must not verify")
	require.False(t, VerifySHA256(&other.PublicKey, "out_trade_no=T1&total_amount=100.00", sig), "another key must not verify")
	require.False(t, VerifySHA256(&k.PublicKey, "out_trade_no=T1&total_amount=100.00", ""), "an empty signature must not verify")
	require.False(t, VerifySHA256(&k.PublicKey, "out_trade_no=T1&total_amount=100.00", "not base64!"))
}
