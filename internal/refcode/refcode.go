// Package refcode makes and recognises the reference codes a customer writes
// in the memo (附言) of a corporate bank transfer, so the back office can tie a
// statement line to its transfer order.
//
// A code is 9 characters: 8 random data characters and 1 check character,
// shown to the customer as XXXX-XXXXX. The alphabet has 31 characters: the
// digits 2–9 and the letters A–Z without I, L and O. 0/O and 1/I/L are left
// out because people confuse them when they read a code off a screen and type
// it into a banking app; dropping L as well makes the alphabet size prime,
// which the check character needs.
//
// The check character follows the pure system of ISO 7064 (the family of
// MOD 11-2 and MOD 37-2): reading the code from the right, with the check
// character at position 1, Σ aᵢ·r^(i−1) ≡ 1 (mod M). Here M = 31 (the alphabet
// size, a prime) and r = 3 (a primitive root modulo 31, so the weights
// 3⁰…3⁸ are nine distinct non-zero values). Because M is prime:
//   - a single substitution changes the sum by w·(a−b) ≢ 0;
//   - swapping two characters at positions i and j changes it by
//     (wᵢ−wⱼ)·(a−b) ≢ 0, since all weights differ;
//
// so every single-character typo and every transposition (adjacent or not,
// including one with the check character) is detected. The tests prove it
// exhaustively on a sample of codes.
package refcode

import (
	"crypto/rand"
	"strings"

	"golang.org/x/text/width"
)

// Alphabet is the set of characters a code is made of, in value order.
const Alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// Length is the number of characters in a code, check character included.
const Length = 9

const (
	modulus = 31 // len(Alphabet), prime
	radix   = 3  // primitive root modulo 31
	dataLen = Length - 1
)

// values maps an upper-case ASCII byte to its value, or -1.
var values = func() [256]int {
	var v [256]int
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(Alphabet); i++ {
		v[Alphabet[i]] = i
	}
	return v
}()

// Generate returns a new random code (unformatted, e.g. "7KQ3MZT8V") drawn
// with crypto/rand. Every code holds at least one digit and one letter, which
// keeps it apart from plain numbers and words in a bank memo.
func Generate() string {
	for {
		var b [dataLen]byte
		for i := range b {
			b[i] = Alphabet[randomIndex()]
		}
		code := string(b[:]) + string(Alphabet[checkValue(string(b[:]))])
		if hasDigitAndLetter(code) {
			return code
		}
	}
}

// randomIndex returns a uniform value in [0, 31) by rejection sampling.
func randomIndex() int {
	var b [1]byte
	for {
		_, _ = rand.Read(b[:]) // never fails since Go 1.24
		if b[0] < 248 {        // 248 = 8·31: keeps the draw uniform
			return int(b[0]) % modulus
		}
	}
}

// checkValue computes the check character's value for data (8 characters
// of the alphabet): the value c that makes the weighted sum ≡ 1 (mod 31).
func checkValue(data string) int {
	sum := 0
	w := radix // the data character next to the check character has weight 3¹
	for i := len(data) - 1; i >= 0; i-- {
		sum = (sum + values[data[i]]*w) % modulus
		w = w * radix % modulus
	}
	return ((1-sum)%modulus + modulus) % modulus
}

// Valid reports whether s, after Normalize, is a well-formed code whose check
// character is right.
func Valid(s string) bool {
	s = Normalize(s)
	if len(s) != Length {
		return false
	}
	sum, w := 0, 1
	for i := Length - 1; i >= 0; i-- {
		v := values[s[i]]
		if v < 0 {
			return false
		}
		sum = (sum + v*w) % modulus
		w = w * radix % modulus
	}
	return sum == 1
}

// Normalize folds s the way people and banks mangle a code: full-width
// characters become half-width, letters become upper case, and spaces and
// hyphens (of any width) are removed. It does not repair anything else.
func Normalize(s string) string {
	s = width.Fold.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case isSeparator(r):
			continue
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Format returns the code as shown to customers, "XXXX-XXXXX". A string that
// does not normalize to 9 characters is returned normalized but ungrouped.
func Format(s string) string {
	s = Normalize(s)
	if len(s) != Length {
		return s
	}
	return s[:4] + "-" + s[4:]
}

func isSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\u00a0', '\u3000', '-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '_':
		return true
	}
	return false
}

func hasDigitAndLetter(s string) bool {
	var digit, letter bool
	for i := 0; i < len(s); i++ {
		if s[i] >= '2' && s[i] <= '9' {
			digit = true
		} else {
			letter = true
		}
	}
	return digit && letter
}
