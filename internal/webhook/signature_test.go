package webhook

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	const secret = "whsec_test"
	body := []byte(`{"id":"evt_1","type":"balance.low","data":{"available":"12.000000"}}`)
	now := time.Unix(1763730000, 0)
	good := Sign(secret, now, body)

	// A known vector, computed independently with
	// printf '%s' "1763730000.$body" | openssl dgst -sha256 -hmac whsec_test
	// so receivers in other languages can check their code against it.
	require.Equal(t, "t=1763730000,v1=f787434edbaf3775fea6b34136df9f3ec2ef2d1c05cfbd20fd51ac4751e3821f", good)

	for _, tc := range []struct {
		name    string
		secret  string
		header  string
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"Valid", secret, good, body, now, nil},
		{"ValidWithinTolerance", secret, good, body, now.Add(4 * time.Minute), nil},
		{"SecondV1MatchesDuringRotation", secret, Sign("whsec_old", now, body) + ",v1=" + good[len("t=1763730000,v1="):], body, now, nil},
		{"TamperedBody", secret, good, []byte(`{"id":"evt_1","type":"balance.low","data":{"available":"99.000000"}}`), now, ErrSignatureMismatch},
		{"WrongSecret", "whsec_other", good, body, now, ErrSignatureMismatch},
		{"Replayed", secret, good, body, now.Add(6 * time.Minute), ErrSignatureExpired},
		{"FromTheFuture", secret, good, body, now.Add(-6 * time.Minute), ErrSignatureExpired},
		{"Missing", secret, "", body, now, ErrSignatureMalformed},
		{"NoSignature", secret, "t=1763730000", body, now, ErrSignatureMalformed},
		{"NotHex", secret, "t=1763730000,v1=zz", body, now, ErrSignatureMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyAt(tc.secret, tc.header, tc.body, 5*time.Minute, tc.now)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
}
