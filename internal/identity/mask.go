package identity

import "strings"

// maskKeep shows the first head and last tail runes of s and replaces the rest
// with '*', one per rune, so the masked value keeps its length. A value too short
// to hide at least 4 runes is masked entirely.
func maskKeep(s string, head, tail int) string {
	r := []rune(s)
	if len(r) < head+tail+4 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:head]) + strings.Repeat("*", len(r)-head-tail) + string(r[len(r)-tail:])
}

// MaskID masks a resident identity number for display, keeping the first 3 and
// last 4 characters: 110101199003071234 → 110***********1234. The input is
// normalised first; anything shorter than 11 characters is masked entirely, so a
// malformed number never shows more than 7 characters.
func MaskID(s string) string {
	return maskKeep(Normalize(s), 3, 4)
}

// MaskCreditCode masks a unified social credit code, keeping the first 2 and
// last 4 characters: 91440300708461136T → 91************136T.
func MaskCreditCode(s string) string {
	return maskKeep(Normalize(s), 2, 4)
}

// MaskName masks a personal name: the first character stays, and for names of
// three or more characters the last one too (张三 → 张*, 张小三 → 张*三,
// 欧阳小明 → 欧**明). A one-character name becomes *.
func MaskName(s string) string {
	r := []rune(strings.TrimSpace(s))
	switch {
	case len(r) == 0:
		return ""
	case len(r) == 1:
		return "*"
	case len(r) == 2:
		return string(r[0]) + "*"
	default:
		return string(r[0]) + strings.Repeat("*", len(r)-2) + string(r[len(r)-1])
	}
}

// MaskPhone masks a phone number, keeping the first 3 and last 4 digits:
// 13812341234 → 138****1234. Spaces and full-width digits are normalised first.
func MaskPhone(s string) string {
	return maskKeep(Normalize(s), 3, 4)
}

// MaskBankAccount masks a bank account number, keeping only the last 4 digits:
// 6222021234567890123 → ***************0123.
func MaskBankAccount(s string) string {
	n := []rune(Normalize(s))
	if len(n) < 8 {
		return strings.Repeat("*", len(n))
	}
	return strings.Repeat("*", len(n)-4) + string(n[len(n)-4:])
}
