package identity

import (
	"fmt"
	"strings"
)

// creditAlphabet is the 31-character set of GB 32100-2015 §4 in value order:
// the digits 0-9 are worth 0-9, then A=10 … Y=30, skipping I, O, S, V and Z.
const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// creditWeights are W_i = 3^(i-1) mod 31 for i = 1..17 (GB 32100-2015 §5, after GB/T 17710).
var creditWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// CreditCode is a validated unified social credit code (统一社会信用代码).
type CreditCode struct {
	Code             string // normalised, 18 characters
	Authority        byte   // position 1: registration authority (1 机构编制, 5 民政, 9 工商, Y 其他, …)
	OrganisationType byte   // position 2: category within the authority (e.g. 91 企业, 92 个体工商户)
	Region           string // positions 3-8: GB/T 2260 code of the registering authority
	OrganisationCode string // positions 9-17: GB 11714 organisation code
}

func creditValue(c byte) int { return strings.IndexByte(creditAlphabet, c) }

// CreditCodeCheckChar computes the 18th character for the first 17 characters of
// a credit code: C18 = 31 - (Σ Ci·Wi mod 31), with 31 written as 0. It returns
// ErrCreditFormat when first17 is not 17 characters of the alphabet.
func CreditCodeCheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fmt.Errorf("%w: need 17 characters, got %d", ErrCreditFormat, len(first17))
	}
	sum := 0
	for i := range 17 {
		v := creditValue(first17[i])
		if v < 0 {
			return 0, fmt.Errorf("%w: character %d is not allowed", ErrCreditFormat, i+1)
		}
		sum += v * creditWeights[i]
	}
	return creditAlphabet[(31-sum%31)%31], nil
}

// ParseCreditCode normalises and validates s as a unified social credit code.
// Checks run in the order alphabet and length, region digits (positions 3-8 must
// be digits whose first two are a province-level code, or 10 for central
// authorities), check character; the first failure is returned, wrapping
// ErrCreditFormat, ErrCreditRegion or ErrCreditChecksum.
func ParseCreditCode(s string) (CreditCode, error) {
	n := Normalize(s)
	if len(n) != 18 {
		return CreditCode{}, fmt.Errorf("%w: need 18 characters, got %d", ErrCreditFormat, len([]rune(n)))
	}
	for i := range 18 {
		if creditValue(n[i]) < 0 {
			return CreditCode{}, fmt.Errorf("%w: character %d is not allowed", ErrCreditFormat, i+1)
		}
	}
	for i := 2; i < 8; i++ {
		if n[i] < '0' || n[i] > '9' {
			return CreditCode{}, fmt.Errorf("%w: position %d is not a digit", ErrCreditRegion, i+1)
		}
	}
	if _, ok := provinces[n[2:4]]; !ok && n[2:4] != "10" {
		return CreditCode{}, fmt.Errorf("%w: %s is not a province code", ErrCreditRegion, n[2:4])
	}
	check, _ := CreditCodeCheckChar(n[:17])
	if n[17] != check {
		return CreditCode{}, fmt.Errorf("%w", ErrCreditChecksum)
	}
	return CreditCode{
		Code: n, Authority: n[0], OrganisationType: n[1], Region: n[2:8], OrganisationCode: n[8:17],
	}, nil
}

// ValidateCreditCode is ParseCreditCode returning only the normalised code.
func ValidateCreditCode(s string) (string, error) {
	c, err := ParseCreditCode(s)
	return c.Code, err
}

// BuildCreditCode appends the check character to 17 characters (for test
// fixtures and the sandbox). It returns ErrCreditFormat for a malformed input.
func BuildCreditCode(first17 string) (string, error) {
	c, err := CreditCodeCheckChar(first17)
	if err != nil {
		return "", err
	}
	return first17 + string(c), nil
}
