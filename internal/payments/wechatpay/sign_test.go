package wechatpay

import (
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/payments/paykey"
)

// The timestamp and nonce are the example values of WeChat Pay's signing
// documentation; the expected strings are written out by hand.
func TestRequestMessage(t *testing.T) {
	t.Parallel()
	t.Run("PostWithBody", func(t *testing.T) {
		got := RequestMessage("POST", "/v3/pay/transactions/native", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", []byte(`{"appid":"wxd930ea5d5a258f4f"}`))
		require.Equal(t, "POST\n/v3/pay/transactions/native\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{\"appid\":\"wxd930ea5d5a258f4f\"}\n", got)
	})
	t.Run("GetWithQueryAndEmptyBody", func(t *testing.T) {
		got := RequestMessage("GET", "/v3/pay/transactions/out-trade-no/T1?mchid=1900000109", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", nil)
		require.Equal(t, "GET\n/v3/pay/transactions/out-trade-no/T1?mchid=1900000109\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n", got)
	})
	t.Run("Response", func(t *testing.T) {
		require.Equal(t, "1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{\"code_url\":\"weixin://x\"}\n",
			ResponseMessage("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", []byte(`{"code_url":"weixin://x"}`)))
		require.Equal(t, "1554209980\nabc\n\n", ResponseMessage("1554209980", "abc", nil), "a 204 answer signs an empty body")
	})
}

// testdata/msg.sig was produced by `openssl dgst -sha256 -sign` over
// testdata/msg.txt with testdata/merchant_pkcs1.pem: an independent
// implementation must agree with ours byte for byte (PKCS#1 v1.5 is
// deterministic).
func TestSignMatchesOpenSSL(t *testing.T) {
	t.Parallel()
	key, err := paykey.LoadPrivateKey("testdata/merchant_pkcs1.pem")
	require.NoError(t, err)
	pub, err := paykey.LoadPublicKey("testdata/merchant_public.pem")
	require.NoError(t, err)
	msg, err := os.ReadFile("testdata/msg.txt")
	require.NoError(t, err)
	want, err := os.ReadFile("testdata/msg.sig")
	require.NoError(t, err)

	require.Equal(t, RequestMessage("POST", "/v3/pay/transactions/native", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", []byte(`{"appid":"wxd930ea5d5a258f4f","mchid":"1900000109"}`)), string(msg))
	got, err := Sign(key, string(msg))
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(want)), got)
	require.NoError(t, Verify(pub, string(msg), got))

	t.Run("TamperedMessage", func(t *testing.T) {
		require.ErrorIs(t, Verify(pub, strings.Replace(string(msg), "1900000109", "1900000110", 1), got), ErrBadSignature)
	})
	t.Run("TamperedSignature", func(t *testing.T) {
		sig, _ := base64.StdEncoding.DecodeString(got)
		sig[10] ^= 1
		require.ErrorIs(t, Verify(pub, string(msg), base64.StdEncoding.EncodeToString(sig)), ErrBadSignature)
	})
	t.Run("WrongKey", func(t *testing.T) {
		other, err := paykey.Generate()
		require.NoError(t, err)
		require.ErrorIs(t, Verify(&other.PublicKey, string(msg), got), ErrBadSignature)
	})
	t.Run("NotBase64", func(t *testing.T) {
		require.ErrorIs(t, Verify(pub, string(msg), "%%%"), ErrBadSignature)
	})
}

func TestAuthorizationHeader(t *testing.T) {
	t.Parallel()
	a := Authorization{MchID: "1900000109", Nonce: "593BEC0C930BF1AFEB40B4A08C8FB242", Signature: "c2ln", Timestamp: "1554208460", SerialNo: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"}
	want := `WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="c2ln",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"`
	require.Equal(t, want, a.String())
	back, err := ParseAuthorization(want)
	require.NoError(t, err)
	require.Equal(t, a, back)

	for name, h := range map[string]string{
		"OtherScheme":  `Bearer abc`,
		"MissingField": `WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="x",timestamp="1",serial_no="s"`,
		"Unquoted":     `WECHATPAY2-SHA256-RSA2048 mchid=1900000109,nonce_str="x",signature="y",timestamp="1",serial_no="s"`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseAuthorization(h)
			require.ErrorIs(t, err, ErrBadSignature)
		})
	}
}

// testdata/notify_vector.txt was sealed with Python's cryptography AESGCM
// (key, nonce and associated data below), independently of our code.
func TestDecryptResourceKnownVector(t *testing.T) {
	t.Parallel()
	ct, err := os.ReadFile("testdata/notify_vector.txt")
	require.NoError(t, err)
	key := []byte("a7f3c1e9b2d84f6a0c5e7b9d1f3a5c7e")
	res := Resource{Algorithm: AlgorithmAESGCM, Ciphertext: strings.TrimSpace(string(ct)), AssociatedData: "transaction", OriginalType: "transaction", Nonce: "3d8f2a6b9c1e"}

	pt, err := DecryptResource(key, res)
	require.NoError(t, err)
	require.Contains(t, string(pt), `"out_trade_no":"T20260101000001"`)
	require.Contains(t, string(pt), `"trade_state_desc":"支付成功"`)

	// Our sealing produces the very same ciphertext.
	again, err := EncryptResource(key, pt, res.Nonce, res.AssociatedData, res.OriginalType)
	require.NoError(t, err)
	require.Equal(t, res.Ciphertext, again.Ciphertext)

	t.Run("WrongKey", func(t *testing.T) {
		_, err := DecryptResource([]byte("b7f3c1e9b2d84f6a0c5e7b9d1f3a5c7e"), res)
		require.ErrorIs(t, err, ErrDecrypt)
	})
	t.Run("WrongAssociatedData", func(t *testing.T) {
		r := res
		r.AssociatedData = "refund"
		_, err := DecryptResource(key, r)
		require.ErrorIs(t, err, ErrDecrypt)
	})
	t.Run("TamperedCiphertext", func(t *testing.T) {
		b, _ := base64.StdEncoding.DecodeString(res.Ciphertext)
		b[5] ^= 0x20
		r := res
		r.Ciphertext = base64.StdEncoding.EncodeToString(b)
		_, err := DecryptResource(key, r)
		require.ErrorIs(t, err, ErrDecrypt)
	})
	t.Run("OtherAlgorithm", func(t *testing.T) {
		r := res
		r.Algorithm = "AEAD_SM4_GCM"
		_, err := DecryptResource(key, r)
		require.ErrorIs(t, err, ErrDecrypt)
	})
	t.Run("ShortKey", func(t *testing.T) {
		_, err := DecryptResource(key[:16], res)
		require.ErrorIs(t, err, ErrDecrypt)
	})
}
