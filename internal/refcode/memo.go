package refcode

import (
	"strings"

	"golang.org/x/text/width"
)

// Candidate is something in a bank memo that looks like a reference code.
type Candidate struct {
	// Code is the normalized 9-character code.
	Code string
	// Valid is true when the check character is right; false means the
	// customer most likely mistyped a code (the "bad check" case).
	Valid bool
}

// FindInMemo finds reference codes inside a free-text bank memo, which banks
// and customers fill with Chinese text, full-width characters, lower case,
// spaces and hyphens ("货款 ７kq3-mzt8v 某某公司"). It returns valid codes
// first, then look-alikes whose check character fails, each once, in the
// order they appear.
//
// A look-alike is a run of 9 alphabet characters with at least one digit and
// one letter, written as one word or as the displayed 4+5 groups; valid codes
// are also found when the customer split them in other ways (up to three
// groups, e.g. "7KQ 3MZ T8V") or glued to the start or end of a longer
// word ("REF7KQ3MZT8V").
func FindInMemo(memo string) []Candidate {
	var valid, suspect []Candidate
	seen := map[string]bool{}
	add := func(code string, ok bool) {
		if seen[code] {
			return
		}
		seen[code] = true
		if ok {
			valid = append(valid, Candidate{Code: code, Valid: true})
		} else {
			suspect = append(suspect, Candidate{Code: code})
		}
	}
	for _, groups := range segments(memo) {
		for i, g := range groups {
			// A code glued to other letters or digits ("REF7KQ3MZT8V"):
			// accept it at either end of the word, and only when valid.
			if len(g) > Length {
				for _, w := range []string{g[:Length], g[len(g)-Length:]} {
					if inAlphabet(w) && hasDigitAndLetter(w) && Valid(w) {
						add(w, true)
					}
				}
				continue
			}
			joined := ""
			for j := i; j < len(groups) && j < i+3; j++ {
				joined += groups[j]
				if len(joined) > Length {
					break
				}
				if len(joined) < Length {
					continue
				}
				if !inAlphabet(joined) || !hasDigitAndLetter(joined) {
					break
				}
				switch {
				case Valid(joined):
					add(joined, true)
				case j == i || (j == i+1 && len(groups[i]) == 4):
					add(joined, false)
				}
				break
			}
		}
	}
	return append(valid, suspect...)
}

// segments splits a memo into runs of ASCII letters and digits separated only
// by spaces or hyphens; any other character (Chinese text, punctuation) ends a
// segment. Each segment is returned as its upper-cased groups.
func segments(memo string) [][]string {
	memo = strings.ToUpper(width.Fold.String(memo))
	var out [][]string
	var groups []string
	var cur strings.Builder
	flushGroup := func() {
		if cur.Len() > 0 {
			groups = append(groups, cur.String())
			cur.Reset()
		}
	}
	flushSegment := func() {
		flushGroup()
		if len(groups) > 0 {
			out = append(out, groups)
			groups = nil
		}
	}
	for _, r := range memo {
		switch {
		case (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'):
			cur.WriteRune(r)
		case isSeparator(r):
			flushGroup()
		default:
			flushSegment()
		}
	}
	flushSegment()
	return out
}

func inAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		if values[s[i]] < 0 {
			return false
		}
	}
	return true
}
