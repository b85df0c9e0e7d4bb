package refcode

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAlphabet(t *testing.T) {
	require.Len(t, Alphabet, modulus)
	for _, c := range "0O1IL" {
		require.NotContains(t, Alphabet, string(c), "ambiguous character %q must not be used", c)
	}
	// The modulus must be prime for the detection proof to hold.
	for d := 2; d*d <= modulus; d++ {
		require.NotZero(t, modulus%d)
	}
	// 3 must be a primitive root, so the 9 weights are distinct.
	seen := map[int]bool{}
	w := 1
	for i := 0; i < Length; i++ {
		require.False(t, seen[w], "weight repeats at position %d", i)
		seen[w] = true
		w = w * radix % modulus
	}
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 20000; i++ {
		c := Generate()
		require.Len(t, c, Length)
		require.True(t, Valid(c), c)
		require.True(t, inAlphabet(c), c)
		require.True(t, hasDigitAndLetter(c), c)
		require.False(t, seen[c], "duplicate code %s", c)
		seen[c] = true
	}
}

// TestEveryTypoIsDetected proves, on a large sample, that every single
// substitution and every swap of two neighbouring characters makes a code
// invalid, so a customer's mistyped memo never matches another order.
func TestEveryTypoIsDetected(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	var substitutions, swaps int
	for k := 0; k < n; k++ {
		code := Generate()
		b := []byte(code)
		for i := 0; i < Length; i++ {
			orig := b[i]
			for j := 0; j < len(Alphabet); j++ {
				if Alphabet[j] == orig {
					continue
				}
				b[i] = Alphabet[j]
				require.False(t, Valid(string(b)), "substitution %s → %s not detected", code, b)
				substitutions++
			}
			b[i] = orig
		}
		for i := 0; i+1 < Length; i++ {
			if b[i] == b[i+1] {
				continue
			}
			b[i], b[i+1] = b[i+1], b[i]
			require.False(t, Valid(string(b)), "adjacent swap %s → %s not detected", code, b)
			b[i], b[i+1] = b[i+1], b[i]
			swaps++
		}
		// Jump transpositions (a b c → c b a) too, since all weights differ.
		for i := 0; i+2 < Length; i++ {
			if b[i] == b[i+2] {
				continue
			}
			b[i], b[i+2] = b[i+2], b[i]
			require.False(t, Valid(string(b)), "jump swap %s → %s not detected", code, b)
			b[i], b[i+2] = b[i+2], b[i]
		}
	}
	t.Logf("%d codes: %d substitutions and %d adjacent swaps, all detected", n, substitutions, swaps)
}

// TestEverySingleErrorOnAllDataValues checks the algebra without randomness:
// for every position and every pair of values, a substitution changes the
// weighted sum, and so does every adjacent swap of different values.
func TestEverySingleErrorOnAllDataValues(t *testing.T) {
	weights := make([]int, Length)
	w := 1
	for i := Length - 1; i >= 0; i-- {
		weights[i] = w
		w = w * radix % modulus
	}
	for pos := 0; pos < Length; pos++ {
		for a := 0; a < modulus; a++ {
			for b := 0; b < modulus; b++ {
				if a == b {
					continue
				}
				require.NotZero(t, (weights[pos]*(a-b)%modulus+modulus)%modulus)
				if pos+1 < Length {
					// swapping a (at pos) and b (at pos+1)
					delta := (weights[pos]*(b-a) + weights[pos+1]*(a-b)) % modulus
					require.NotZero(t, (delta+modulus)%modulus)
				}
			}
		}
	}
}

func TestNormalizeAndFormat(t *testing.T) {
	code := "7KQ3MZT8V"
	// make it valid: recompute the check character
	code = code[:8] + string(Alphabet[checkValue(code[:8])])
	require.True(t, Valid(code))

	tests := map[string]string{
		"lower case":        strings.ToLower(code),
		"display format":    code[:4] + "-" + code[4:],
		"spaces":            " " + code[:3] + " " + code[3:6] + " " + code[6:] + " ",
		"full-width":        toFullWidth(strings.ToLower(code[:4])) + "－" + toFullWidth(code[4:]),
		"ideographic space": code[:4] + "\u3000" + code[4:],
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, code, Normalize(in))
			require.True(t, Valid(in))
			require.Equal(t, code[:4]+"-"+code[4:], Format(in))
		})
	}
	require.False(t, Valid(""))
	require.False(t, Valid(code+"2"))
	require.False(t, Valid(code[:8]))
	require.False(t, Valid("OOOOOOOOO"))
}

func TestFindInMemo(t *testing.T) {
	// "REF" glued to a code is ambiguous when "REF" plus the code's first six
	// characters happens to be a valid code too (1 in 31): then both are
	// reported, and matching sends the line to the queue. This test is about
	// the unambiguous case, so it draws a code without that coincidence.
	a := Generate()
	for Valid("REF" + a[:6]) {
		a = Generate()
	}
	b := Generate()
	bad := corrupt(a)

	tests := []struct {
		name    string
		memo    string
		valid   []string
		suspect []string
	}{
		{"plain", a, []string{a}, nil},
		{"chinese around", "货款" + a + "某某科技有限公司", []string{a}, nil},
		{"full-width lower case with hyphen", "充值 " + toFullWidth(strings.ToLower(a[:4])) + "－" + toFullWidth(strings.ToLower(a[4:])) + " 谢谢", []string{a}, nil},
		{"split in three", "参考码：" + a[:3] + " " + a[3:6] + " " + a[6:], []string{a}, nil},
		{"glued to a prefix", "REF" + a, []string{a}, nil},
		{"two codes", a + "，" + b, []string{a, b}, nil},
		{"typo", "货款 " + bad[:4] + "-" + bad[4:], nil, []string{bad}},
		{"valid and typo", bad + " " + a, []string{a}, []string{bad}},
		{"no code", "转账 2024年3月服务费 13812345678", nil, nil},
		{"digits only", "23456789234", nil, nil},
		{"ambiguous characters are not codes", "ABCDEF0O1", nil, nil},
		{"empty", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var valid, suspect []string
			for _, c := range FindInMemo(tt.memo) {
				if c.Valid {
					valid = append(valid, c.Code)
				} else {
					suspect = append(suspect, c.Code)
				}
			}
			require.Equal(t, tt.valid, valid)
			require.Equal(t, tt.suspect, suspect)
		})
	}
}

// corrupt changes one data character of a valid code, keeping a digit and a
// letter in it.
func corrupt(code string) string {
	b := []byte(code)
	for j := 0; j < len(Alphabet); j++ {
		if Alphabet[j] != b[2] {
			b[2] = Alphabet[j]
			if hasDigitAndLetter(string(b)) {
				return string(b)
			}
		}
	}
	panic("unreachable")
}

func toFullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > ' ' && r < 0x7f {
			r += 0xFF01 - '!'
		}
		b.WriteRune(r)
	}
	return b.String()
}
