package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The charge's request and its idempotency hash are written here by hand
// rather than by encoding/json on a map and a []any: a usage batch builds
// one per event, and reflection over them was most of this process's CPU
// per charge. Every byte of the hash must stay what stamp and canonical
// give (a retry after an upgrade must replay, not conflict):
// TestChargeArgMatchesStamp and FuzzCanonical compare them.

// chargeArg is the JSON request of ledger_charge for r (amount already
// checked and rounded): the fields chargeJob used to put in a payload, then
// stamp's.
func (l *Ledger) chargeArg(r ChargeRequest, amount string) ([]byte, error) {
	var occurred []byte
	if !r.OccurredAt.IsZero() {
		var err error
		if occurred, err = r.OccurredAt.UTC().MarshalJSON(); err != nil {
			return nil, err
		}
	}
	canon := canonical(r.Detail)
	b := make([]byte, 0, 320+len(r.Detail)+len(canon))
	// the identity, hashed as stamp hashes json.Marshal(identity)
	b = append(b, `["charge",`...)
	b = strconv.AppendInt(b, r.AccountID, 10)
	b = appendJSONString(append(b, ','), amount)
	b = appendJSONString(append(b, ','), r.Model)
	b = appendJSONString(append(b, ','), r.SessionID)
	b = appendJSONString(append(b, ','), r.RequestID)
	b = append(b, ',')
	if occurred == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, occurred...)
	}
	b = appendJSONString(append(b, ','), canon)
	if r.Project != "" || r.Key != "" {
		b = appendJSONString(append(b, ','), r.Project)
		b = appendJSONString(append(b, ','), r.Key)
	}
	b = append(b, ']')
	sum := sha256.Sum256(b)
	var hash [32]byte
	hex.Encode(hash[:], sum[:16])

	b = b[:0]
	b = append(b, `{"account_id":`...)
	b = strconv.AppendInt(b, r.AccountID, 10)
	b = appendJSONString(append(b, `,"amount":`...), amount)
	b = appendJSONString(append(b, `,"model":`...), r.Model)
	b = appendJSONString(append(b, `,"session_id":`...), r.SessionID)
	b = appendJSONString(append(b, `,"request_id":`...), r.RequestID)
	b = append(b, `,"detail":`...)
	if len(r.Detail) == 0 {
		b = append(b, "null"...)
	} else {
		if !json.Valid(r.Detail) {
			return nil, fmt.Errorf("%w: detail is not JSON", ErrInvalidArgument)
		}
		b = append(b, r.Detail...)
	}
	if occurred != nil {
		b = append(append(b, `,"occurred_at":`...), occurred...)
	}
	if r.Project != "" || r.Key != "" {
		b = appendJSONString(append(b, `,"project":`...), r.Project)
		b = appendJSONString(append(b, `,"key_label":`...), r.Key)
	}
	return l.appendStamp(b, r.IdempotencyKey, hash[:])
}

// appendStamp writes what stamp adds to a request (key, hash, clock,
// enforcement, grace policy) and closes the object.
func (l *Ledger) appendStamp(b []byte, key string, hash []byte) ([]byte, error) {
	b = appendJSONString(append(b, `,"key":`...), key)
	b = append(append(append(b, `,"hash":"`...), hash...), '"')
	now, err := l.now().MarshalJSON()
	if err != nil {
		return nil, err
	}
	b = append(append(b, `,"now":`...), now...)
	if l.opts.CurrentEnforcement != nil {
		if m := l.opts.CurrentEnforcement(); m == EnforceShadow || m == EnforceOff {
			b = appendJSONString(append(b, `,"enforcement":`...), string(m))
		}
	}
	if g := l.grace(); g.Enabled && g.Amount.IsPositive() {
		grace, err := json.Marshal(map[string]any{
			"amount":           Round(g.Amount).String(),
			"lifetime_seconds": g.Lifetime.Seconds(),
		})
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"grace":`...), grace...)
	}
	return append(b, '}'), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as encoding/json writes a string: HTML
// characters escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}

// canonicalFlat is canonical for the usual detail, one flat object whose
// keys and strings are plain ASCII with nothing to escape (what the gateway
// writes): its members sorted by key, without spaces, the cost keys left
// out, numbers as written. ok is false for anything else (nesting, escapes,
// duplicate keys, invalid JSON), which canonical's general path handles.
func canonicalFlat(raw []byte) (string, bool) {
	type member struct{ key, value []byte }
	var members [16]member
	ms := members[:0]
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return "", false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		i++
	} else {
		for {
			key, next, ok := plainString(raw, i)
			if !ok {
				return "", false
			}
			i = skipSpace(raw, next)
			if i >= len(raw) || raw[i] != ':' {
				return "", false
			}
			i = skipSpace(raw, i+1)
			end, ok := scalarEnd(raw, i)
			if !ok {
				return "", false
			}
			ms = append(ms, member{key: key, value: raw[i:end]})
			i = skipSpace(raw, end)
			if i >= len(raw) {
				return "", false
			}
			if raw[i] == '}' {
				i++
				break
			}
			if raw[i] != ',' {
				return "", false
			}
			i = skipSpace(raw, i+1)
		}
	}
	if skipSpace(raw, i) != len(raw) {
		return "", false
	}
	slices.SortFunc(ms, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	out := make([]byte, 0, len(raw))
	out = append(out, '{')
	for k, m := range ms {
		if k > 0 && bytes.Equal(ms[k-1].key, m.key) {
			return "", false // a repeated key: the general path keeps the last
		}
		if string(m.key) == "cost" || string(m.key) == "cost_version" {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, m.key...)
		out = append(out, '"', ':')
		out = append(out, m.value...)
	}
	return string(append(out, '}')), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a string at b[i] made of printable ASCII that JSON
// does not escape, and answers its contents and where it ends.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c < 0x20 || c >= utf8.RuneSelf || c == '\\' || c == '<' || c == '>' || c == '&':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// scalarEnd answers where the scalar at b[i] (a plain string, a number,
// true, false or null) ends.
func scalarEnd(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		_, end, ok := plainString(b, i)
		return end, ok
	case 't', 'f', 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(b[i:], []byte(lit)) {
				return i + len(lit), true
			}
		}
		return 0, false
	}
	return numberEnd(b, i)
}

// numberEnd reads a JSON number at b[i].
func numberEnd(b []byte, i int) (int, bool) {
	digits := func(j int) int {
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}
