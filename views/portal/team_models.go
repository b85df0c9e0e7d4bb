package portal

import (
	"slices"
	"strconv"
	"time"
)

func formatID(id int64) string { return strconv.FormatInt(id, 10) }

// TeamView is the team page of an enterprise: its members, the pending
// invitations and, for an owner, the forms that change them.
type TeamView struct {
	Frame
	// Manage: the viewer is an owner (forms shown); others read the list.
	Manage      bool
	Members     []MemberRow
	Invitations []InvitationRow
	// SubAccounts are the enterprise's departments a member may be
	// limited to.
	SubAccounts []Option
	Roles       []string
	Form        InviteForm
	// Done names what was just done (invited, role, limit, removed,
	// revoked), for the notice.
	Done string
}

// MemberRow is one member.
type MemberRow struct {
	ID    int64
	Name  string
	Login string
	Role  string
	// Limit are the sub-accounts the member is limited to (ids); empty:
	// all. LimitNames names them.
	Limit      []int64
	LimitNames []string
	Self       bool
}

// Limits reports whether sub-account id (as a form value) is in the limit.
func (m MemberRow) Limits(id string) bool {
	return slices.ContainsFunc(m.Limit, func(l int64) bool { return formatID(l) == id })
}

// InvitationRow is one pending invitation.
type InvitationRow struct {
	ID         int64
	Email      string
	Role       string
	LimitNames []string
	ExpiresAt  time.Time
}

// InviteForm is the invitation form as typed, with every field's error.
type InviteForm struct {
	Email       string
	Role        string
	SubAccounts []string
	Errors      map[string]string
}

// Picked reports whether sub-account id was ticked.
func (f InviteForm) Picked(id string) bool { return slices.Contains(f.SubAccounts, id) }

// AcceptView is the page an invitation link opens.
type AcceptView struct {
	Token      string
	Enterprise string
	Email      string
	Role       string
	ExpiresAt  time.Time
	// Problem is the i18n key of why the link no longer works ("" when it
	// does).
	Problem string
	// SignedIn is who is signed in ("" for a visitor); WrongUser says it is
	// not the invited address.
	SignedIn  string
	WrongUser bool
	// SignInURL and SignUpURL come back here after signing in or up.
	SignInURL, SignUpURL string
}
