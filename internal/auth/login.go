package auth

import (
	"net/mail"
	"strings"
)

// LoginKind says whether a login is an email address or a mobile number.
type LoginKind string

// Login kinds.
const (
	LoginEmail LoginKind = "email"
	LoginPhone LoginKind = "phone"
)

// NormalizeLogin classifies a login typed into a form and returns its one
// stored form: a lower-cased email address, or an E.164 mainland China
// mobile number (+8613800138000). Anything with an "@" is treated as an email
// (ErrInvalidEmail when it is not one), anything else as a phone number
// (ErrInvalidPhone).
func NormalizeLogin(login string) (string, LoginKind, error) {
	login = foldWidth(strings.TrimSpace(login))
	if strings.Contains(login, "@") {
		e, err := NormalizeEmail(login)
		return e, LoginEmail, err
	}
	p, err := NormalizePhone(login)
	return p, LoginPhone, err
}

// NormalizePhone accepts a mainland China mobile number — 11 digits starting
// with 13-19, optionally preceded by +86, 0086 or 86, with spaces, hyphens,
// dots or parentheses anywhere and full-width digits from Chinese input
// methods — and returns it as +86 followed by the 11 digits. Numbers of other
// countries and landlines are ErrInvalidPhone.
func NormalizePhone(s string) (string, error) {
	s = foldWidth(strings.TrimSpace(s))
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && b.Len() == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", ErrInvalidPhone
		}
	}
	d := b.String()
	switch {
	case strings.HasPrefix(d, "+86"):
		d = d[3:]
	case strings.HasPrefix(d, "+"):
		return "", ErrInvalidPhone
	case strings.HasPrefix(d, "0086"):
		d = d[4:]
	case len(d) == 13 && strings.HasPrefix(d, "86"):
		d = d[2:]
	}
	if len(d) != 11 || d[0] != '1' || d[1] < '3' || d[1] > '9' {
		return "", ErrInvalidPhone
	}
	return "+86" + d, nil
}

// NormalizeEmail checks an email address with net/mail plus rules that
// net/mail leaves out, and returns it lower-cased. It rejects display-name
// forms ("Li <li@x.cn>"), quoted or over-long local parts (RFC 5321 limits:
// 64-byte local part, 254-byte address), IP-literal domains, domains without
// a dot, labels with characters outside [a-z0-9-] or with a leading or
// trailing hyphen, and all-numeric top-level domains. Internationalised
// domains must be given in their xn-- form.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>\"") {
		return "", ErrInvalidEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || len(local) > 64 || strings.Count(s, "@") != 1 {
		return "", ErrInvalidEmail
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", ErrInvalidEmail
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", ErrInvalidEmail
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", ErrInvalidEmail
			}
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 || strings.Trim(tld, "0123456789") == "" {
		return "", ErrInvalidEmail
	}
	return s, nil
}

// foldWidth maps full-width ASCII (U+FF01-U+FF5E, as Chinese input methods
// type digits, "+" and "@") and the ideographic space to their ASCII forms.
func foldWidth(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			return r - 0xFF01 + '!'
		case r == 0x3000:
			return ' '
		}
		return r
	}, s)
}
