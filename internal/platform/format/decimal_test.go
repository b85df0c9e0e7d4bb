package format

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// AppendDecimal must write what Decimal.String writes, for every value:
// the edges by hand, then a sweep of random coefficients and exponents
// (including ones the fast path hands back to String).
func TestAppendDecimalWritesWhatStringWrites(t *testing.T) {
	cases := []decimal.Decimal{
		decimal.Zero, decimal.New(0, -6), decimal.New(-0, -3), decimal.New(5, -1), decimal.New(-5, -1),
		decimal.New(100, -2), decimal.New(-100, -2), decimal.New(1, -18), decimal.New(-1, -18), decimal.New(1, -19),
		decimal.New(123456789012345678, -6), decimal.New(-999999999999999999, -18), decimal.New(1000000000000000000, -6),
		decimal.New(math.MaxInt64, -3), decimal.New(math.MinInt64, -3), decimal.New(7, 3), decimal.New(-7, 2),
		decimal.RequireFromString("6.500000"), decimal.RequireFromString("0.000125"), decimal.RequireFromString("1234567.5"),
		decimal.RequireFromString("-0.10"), decimal.RequireFromString("100000000000000000000000.000001"),
		decimal.NewFromInt(100_000_000), decimal.RequireFromString("10").Mul(decimal.RequireFromString("0.65")),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		c := r.Int64N(2_000_000_000_000_000_000/2) - r.Int64N(1_000_000_000_000_000_000)
		if r.IntN(3) == 0 {
			c = r.Int64N(100_000_000) - 50_000_000
		}
		cases = append(cases, decimal.New(c, int32(r.IntN(24)-21)))
	}
	for _, d := range cases {
		require.Equal(t, d.String(), string(AppendDecimal(nil, d)), "coefficient %s exponent %d", d.Coefficient(), d.Exponent())
		require.Equal(t, d.String(), DecimalString(d))
	}
	require.Equal(t, "x:6.5", string(AppendDecimal([]byte("x:"), decimal.RequireFromString("6.5"))), "appends")
}

func BenchmarkAppendDecimal(b *testing.B) {
	d := decimal.RequireFromString("1234.567800")
	buf := make([]byte, 0, 32)
	b.Run("String", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = append(buf[:0], d.String()...)
		}
	})
	b.Run("AppendDecimal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendDecimal(buf[:0], d)
		}
	})
}
