package pdf

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func TestCapital(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in   string
		want string
	}{
		{"0", "零元整"},
		{"0.00", "零元整"},
		{"0.01", "壹分"},
		{"0.05", "伍分"},
		{"0.10", "壹角整"},
		{"0.50", "伍角整"},
		{"0.55", "伍角伍分"},
		{"1", "壹元整"},
		{"1.05", "壹元零伍分"},
		{"1.50", "壹元伍角整"},
		{"1.55", "壹元伍角伍分"},
		{"10", "壹拾元整"},
		{"11", "壹拾壹元整"},
		{"20.00", "贰拾元整"},
		{"100", "壹佰元整"},
		{"101", "壹佰零壹元整"},
		{"110", "壹佰壹拾元整"},
		{"1000.5", "壹仟元伍角整"},
		{"1001", "壹仟零壹元整"},
		{"1010", "壹仟零壹拾元整"},
		{"1409.50", "壹仟肆佰零玖元伍角整"},    // PBoC example
		{"6007.14", "陆仟零柒元壹角肆分"},     // PBoC example
		{"1680.32", "壹仟陆佰捌拾元叁角贰分"},   // PBoC example, form without the optional 零
		{"107000.53", "壹拾万零柒仟元伍角叁分"}, // PBoC example, second form
		{"325.04", "叁佰贰拾伍元零肆分"},      // PBoC example
		{"10000", "壹万元整"},
		{"10001", "壹万零壹元整"},
		{"100010", "壹拾万零壹拾元整"},
		{"1000100", "壹佰万零壹佰元整"},
		{"12345678.90", "壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元玖角整"},
		{"100000000", "壹亿元整"},
		{"100010000", "壹亿零壹万元整"},
		{"100001000", "壹亿零壹仟元整"},
		{"110000000", "壹亿壹仟万元整"},
		{"999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"},
		{"-100", "负壹佰元整"},
		{"-0.05", "负伍分"},
		{"1334.56", "壹仟叁佰叁拾肆元伍角陆分"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Capital(decimal.RequireFromString(tt.in))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCapitalErrors(t *testing.T) {
	t.Parallel()

	_, err := Capital(decimal.RequireFromString("1.005"))
	require.ErrorIs(t, err, ErrNotFenExact)
	_, err = Capital(decimal.RequireFromString("1000000000000"))
	require.ErrorIs(t, err, ErrAmountRange)
	_, err = Capital(decimal.RequireFromString("-1000000000000"))
	require.ErrorIs(t, err, ErrAmountRange)
	got, err := Capital(decimal.RequireFromString("1.0500000"))
	require.NoError(t, err, "trailing zeros below the fen are fine")
	require.Equal(t, "壹元零伍分", got)
}

// parseCapital is an independent reader of capital numerals, used by the fuzz
// test to check Capital round-trips.
func parseCapital(s string) int64 {
	digits := map[rune]int64{}
	for i, r := range []rune(capitalDigits) {
		digits[r] = int64(i)
	}
	small := map[rune]int64{'拾': 10, '佰': 100, '仟': 1000}
	neg := strings.HasPrefix(s, "负")
	s = strings.TrimPrefix(s, "负")
	var total, section, yi, wan, cur int64
	var fen int64
	for _, r := range s {
		switch {
		case r == '零':
		case digits[r] > 0:
			cur = digits[r]
		case small[r] > 0:
			section += cur * small[r]
			cur = 0
		case r == '万':
			wan = (section + cur) * 10000
			section, cur = 0, 0
		case r == '亿':
			yi = (wan + section + cur) * 100000000
			wan, section, cur = 0, 0, 0
		case r == '元':
			total = yi + wan + section + cur
			cur = 0
		case r == '角':
			fen += cur * 10
			cur = 0
		case r == '分':
			fen += cur
			cur = 0
		}
	}
	v := total*100 + fen
	if neg {
		return -v
	}
	return v
}

func FuzzCapital(f *testing.F) {
	for _, v := range []int64{0, 1, 5, 10, 100, 105, 150, 10000, 100000053, 10700053, 99999999999999, -10000} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, fen int64) {
		if fen >= 100_000_000_000_000 || fen <= -100_000_000_000_000 {
			return
		}
		got, err := Capital(decimal.New(fen, -2))
		require.NoError(t, err)
		require.Equal(t, fen, parseCapital(got), "%d fen → %s", fen, got)
		require.NotContains(t, got, "零零")
		require.False(t, strings.HasSuffix(got, "零"))
		require.Equal(t, fen%10 == 0, strings.HasSuffix(got, "整"), got)
	})
}
