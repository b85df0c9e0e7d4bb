package web

import (
	"context"
	"strings"

	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// reasonText is a recorded reason for a reader (an audit row's, an
// approval's): a grant records "<reason code>: <note>", whose code is named;
// a bare code is named; any other reason (free text a staff member typed) is
// shown as typed.
func reasonText(ctx context.Context, reason string) string {
	named := func(code string) (string, bool) {
		if code == "" || strings.ContainsAny(code, " :") {
			return "", false
		}
		key := "source." + code
		label := i18n.T(ctx, key)
		return label, label != key
	}
	if label, ok := named(reason); ok {
		return label
	}
	if code, note, ok := strings.Cut(reason, ": "); ok {
		if label, ok := named(code); ok {
			return label + ": " + note
		}
	}
	return reason
}
