package piicrypto_test

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/piicrypto"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

const idNumber = "110101199003070011"

func TestSealOpen(t *testing.T) {
	t.Parallel()

	s, err := piicrypto.New(map[string][]byte{"k1": key(1)}, "k1")
	require.NoError(t, err)
	aad := []byte("identity.id_number:account=42")

	sealed, err := s.Seal([]byte(idNumber), aad)
	require.NoError(t, err)
	require.NotContains(t, string(sealed), idNumber, "the number must not appear in the stored bytes")
	id, err := piicrypto.KeyID(sealed)
	require.NoError(t, err)
	require.Equal(t, "k1", id)

	again, err := s.Seal([]byte(idNumber), aad)
	require.NoError(t, err)
	require.NotEqual(t, sealed, again, "random nonce: equal plaintexts give different ciphertexts")

	pt, err := s.Open(sealed, aad)
	require.NoError(t, err)
	require.Equal(t, idNumber, string(pt))

	t.Run("WrongAAD", func(t *testing.T) {
		_, err := s.Open(sealed, []byte("identity.id_number:account=43"))
		require.ErrorIs(t, err, piicrypto.ErrDecrypt)
	})
	t.Run("Tampered", func(t *testing.T) {
		bad := bytes.Clone(sealed)
		bad[len(bad)-1] ^= 1
		_, err := s.Open(bad, aad)
		require.ErrorIs(t, err, piicrypto.ErrDecrypt)
	})
	t.Run("KeyIDSwapped", func(t *testing.T) {
		// Rewriting the key id in the header must not let another key be tried silently.
		other, err := piicrypto.New(map[string][]byte{"k1": key(1), "k9": key(1)}, "k1")
		require.NoError(t, err)
		bad := bytes.Clone(sealed)
		bad[3] = '9'
		_, err = other.Open(bad, aad)
		require.ErrorIs(t, err, piicrypto.ErrDecrypt)
	})
	t.Run("Malformed", func(t *testing.T) {
		for _, v := range [][]byte{nil, {1}, {2, 2, 'k', '1'}, {1, 0}, {1, 9, 'k'}, {1, 2, 'k', '1', 0, 0}} {
			_, err := s.Open(v, aad)
			require.ErrorIs(t, err, piicrypto.ErrMalformed, "%v", v)
		}
	})
	t.Run("UnknownKey", func(t *testing.T) {
		other, err := piicrypto.New(map[string][]byte{"k2": key(2)}, "k2")
		require.NoError(t, err)
		_, err = other.Open(sealed, aad)
		require.ErrorIs(t, err, piicrypto.ErrUnknownKey)
	})
}

func TestRotation(t *testing.T) {
	t.Parallel()

	old, err := piicrypto.New(map[string][]byte{"k1": key(1)}, "k1")
	require.NoError(t, err)
	aad := []byte("licence:7")
	sealed, err := old.Seal([]byte("licence image bytes"), aad)
	require.NoError(t, err)

	// PII_KEYS=k2:…,k1:… with PII_ACTIVE_KEY=k2: old rows still open, new rows use k2.
	s, _, err := piicrypto.FromSettings("k2:"+b64(key(2))+", k1:"+b64(key(1)), "k2", "", false)
	require.NoError(t, err)
	require.Equal(t, []string{"k1", "k2"}, s.KeyIDs())
	require.True(t, s.NeedsRotation(sealed))
	pt, err := s.Open(sealed, aad)
	require.NoError(t, err)
	require.Equal(t, "licence image bytes", string(pt))

	rotated, err := s.Reseal(sealed, aad)
	require.NoError(t, err)
	require.False(t, s.NeedsRotation(rotated))
	id, err := piicrypto.KeyID(rotated)
	require.NoError(t, err)
	require.Equal(t, "k2", id)
	_, err = old.Open(rotated, aad)
	require.ErrorIs(t, err, piicrypto.ErrUnknownKey)
}

func TestSealString(t *testing.T) {
	t.Parallel()

	s := piicrypto.Dev()
	v, err := s.SealString(idNumber, "a")
	require.NoError(t, err)
	got, err := s.OpenString(v, "a")
	require.NoError(t, err)
	require.Equal(t, idNumber, got)
	_, err = s.OpenString("not base64!", "a")
	require.ErrorIs(t, err, piicrypto.ErrMalformed)
}

func TestSettings(t *testing.T) {
	t.Parallel()

	t.Run("DevDefaults", func(t *testing.T) {
		s, b, err := piicrypto.FromSettings("", "", "", false)
		require.NoError(t, err)
		require.True(t, s.IsDevKey())
		require.True(t, b.IsDevKey())
		require.Equal(t, piicrypto.DevKeyID, s.ActiveKeyID())
	})
	t.Run("ProductionRefusesDevKeys", func(t *testing.T) {
		_, _, err := piicrypto.FromSettings("", "", "", true)
		require.ErrorIs(t, err, piicrypto.ErrConfig)
		_, _, err = piicrypto.FromSettings("k1:"+b64(key(1)), "k1", "", true)
		require.ErrorIs(t, err, piicrypto.ErrConfig, "dev blind-index key refused too")
	})
	t.Run("ProductionWithRealKeys", func(t *testing.T) {
		s, b, err := piicrypto.FromSettings("k1:"+base64.RawURLEncoding.EncodeToString(key(1)), "", b64(key(3)), true)
		require.NoError(t, err)
		require.False(t, s.IsDevKey())
		require.False(t, b.IsDevKey())
		require.Equal(t, "k1", s.ActiveKeyID(), "a single key is active by default")
	})
	t.Run("Invalid", func(t *testing.T) {
		for name, c := range map[string][3]string{
			"ShortKey":       {"k1:" + b64(key(1)[:16]), "k1", ""},
			"NotBase64":      {"k1:???", "k1", ""},
			"NoColon":        {b64(key(1)), "k1", ""},
			"BadID":          {"k 1:" + b64(key(1)), "k 1", ""},
			"Duplicate":      {"k1:" + b64(key(1)) + ",k1:" + b64(key(2)), "k1", ""},
			"ActiveMissing":  {"k1:" + b64(key(1)), "k2", ""},
			"NoActiveOfMany": {"k1:" + b64(key(1)) + ",k2:" + b64(key(2)), "", ""},
			"ShortIndexKey":  {"k1:" + b64(key(1)), "k1", b64(key(3)[:8])},
			"IndexNotBase64": {"k1:" + b64(key(1)), "k1", "%%%"},
		} {
			_, _, err := piicrypto.FromSettings(c[0], c[1], c[2], false)
			require.ErrorIs(t, err, piicrypto.ErrConfig, name)
		}
	})
	t.Run("DevKeyListedButInactive", func(t *testing.T) {
		dev, err := piicrypto.KeyID(must(piicrypto.Dev().Seal([]byte("x"), nil)))
		require.NoError(t, err)
		require.Equal(t, piicrypto.DevKeyID, dev)
		s, err := piicrypto.New(map[string][]byte{"k1": key(1)}, "k1")
		require.NoError(t, err)
		require.False(t, s.IsDevKey())
	})
}

func TestBlindIndex(t *testing.T) {
	t.Parallel()

	b, err := piicrypto.NewBlindIndex(key(7))
	require.NoError(t, err)
	a1 := b.Sum("resident_id", idNumber)
	require.Len(t, a1, 64)
	require.Equal(t, a1, b.Sum("resident_id", idNumber), "deterministic: usable in a unique index")
	require.NotEqual(t, a1, b.Sum("resident_id", "110101199003070038"))
	require.NotEqual(t, a1, b.Sum("credit_code", idNumber), "domains are separated")
	require.NotContains(t, a1, idNumber)

	other, err := piicrypto.NewBlindIndex(key(8))
	require.NoError(t, err)
	require.NotEqual(t, a1, other.Sum("resident_id", idNumber), "keyed: not a plain hash")

	_, err = piicrypto.NewBlindIndex(key(7)[:31])
	require.ErrorIs(t, err, piicrypto.ErrConfig)
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzOpen(f *testing.F) {
	s, err := piicrypto.New(map[string][]byte{"k1": key(1)}, "k1")
	require.NoError(f, err)
	f.Add(must(s.Seal([]byte(idNumber), []byte("a"))), []byte("a"))
	f.Add([]byte{1, 2, 'k', '1'}, []byte(nil))
	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		// Never panics; arbitrary bytes never authenticate unless produced by Seal.
		pt, err := s.Open(sealed, aad)
		if err == nil {
			require.NotNil(t, pt)
		}
	})
}
