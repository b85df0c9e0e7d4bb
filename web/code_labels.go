package web

import (
	"context"
	"strconv"
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

// actorText names who a history row's actor reference ("user:7",
// "staff:3") is: the user's email or phone when the user exists, else the
// kind of actor in words; other references read as themselves.
func (s *Server) actorText(ctx context.Context, ref string) string {
	kind, id, ok := strings.Cut(ref, ":")
	if !ok || (kind != "user" && kind != "staff") {
		return ref
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return ref
	}
	if u, err := s.portal.auth.UserByID(ctx, n); err == nil {
		if u.Email != "" {
			return u.Email
		}
		if u.Phone != "" {
			return u.Phone
		}
	}
	return i18n.T(ctx, "actor."+kind) + " #" + id
}
