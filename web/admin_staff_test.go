package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/web/webtest"
)

// staffClock is the TOTP clock of a staff test: codes are computed for it
// and it moves one 30-second step at a time, so no test waits for one.
type staffClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *staffClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *staffClock) Step()          { c.mu.Lock(); c.t = c.t.Add(30 * time.Second); c.mu.Unlock() }

type staffBundle struct {
	*adminBundle
	clock *staffClock
}

// setupStaff is setupAdmin with two-factor sign-in on for admin and
// finance, as in production, and a TOTP clock the test moves.
func setupStaff(t *testing.T) *staffBundle {
	t.Helper()
	clk := &staffClock{t: time.Now().UTC()}
	var users *auth.Service
	var bo *backoffice.Service
	b := setupAdmin(t, webtest.WithOverrides(func(o *app.Overrides) {
		o.Now, o.SkipTwoFactor = clk.Now, false // two-factor on, on the test's clock
	}))
	users, bo = b.app.Services.Auth, b.app.Services.Backoffice
	b.auth, b.bo = users, bo
	return &staffBundle{adminBundle: b, clock: clk}
}

// code is the authenticator's code for secret at the bundle's clock.
func (b *staffBundle) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, b.clock.Now())
	require.NoError(t, err)
	return c
}

// enrolledAdmin creates an admin with an authenticator and returns them
// signed in (with both steps) and their secret.
func (b *staffBundle) enrolledAdmin(t *testing.T, prefix string) (*webtest.Client, auth.User, string) {
	t.Helper()
	ctx := context.Background()
	email := uniqEmail(prefix)
	u, err := b.auth.CreateStaff(ctx, auth.StaffRequest{Email: email, Password: "staff password 1", Name: prefix, Roles: []auth.Role{auth.RoleAdmin}})
	require.NoError(t, err)
	e, err := b.auth.TOTPEnrolment(ctx, u.ID)
	require.NoError(t, err)
	u, err = b.bo.ConfirmTOTP(ctx, backoffice.Actor{User: u}, b.code(t, e.Secret))
	require.NoError(t, err)
	b.clock.Step()
	c := b.signInWithCode(t, email, "staff password 1", e.Secret)
	return c, u, e.Secret
}

// signInWithCode signs in with both steps and checks /admin opens.
func (b *staffBundle) signInWithCode(t *testing.T, email, password, secret string) *webtest.Client {
	t.Helper()
	c := webtest.NewClient(t, b.app.URL)
	c.Get("/signin")
	p := c.PostForm("/signin", url.Values{"login": {email}, "password": {password}})
	require.Equal(t, "/signin/totp", p.URL.Path, p.Body)
	require.Equal(t, "/signin", c.Get("/admin").URL.Path, "the password alone signs nobody in")
	c.Get("/signin")
	p = c.PostForm("/signin", url.Values{"login": {email}, "password": {password}})
	require.Equal(t, "/signin/totp", p.URL.Path)
	p = c.PostForm("/signin/totp", url.Values{"code": {b.code(t, secret)}})
	require.Equal(t, "/admin", p.URL.Path, p.Body)
	b.clock.Step()
	return c
}

func TestStaffInviteFirstSignInAndTOTP(t *testing.T) {
	t.Parallel()
	b := setupStaff(t)
	admin, adminUser, _ := b.enrolledAdmin(t, "staff-admin")

	// Every field's problem at once, with what was typed kept.
	p := admin.PostForm("/admin/staff", url.Values{"email": {"not-an-email"}, "name": {"bad\x01name"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	form := p.Doc.Find(`[data-testid="staff-form"]`)
	require.Equal(t, 3, form.Find(".field-error").Length(), form.Text())
	require.Equal(t, "not-an-email", form.Find(`input[name="email"]`).AttrOr("value", ""))
	p = admin.PostForm("/admin/staff", url.Values{"email": {"also bad"}, "roles": {"finance"}})
	require.True(t, p.Doc.Find(`[data-testid="staff-form"] input[value="finance"]`).Is("[checked]"), "ticked roles stay ticked")

	// A valid member gets a one-time link, never a password.
	email := uniqEmail("new-finance")
	p = admin.PostForm("/admin/staff", url.Values{"email": {email}, "name": {"新财务"}, "roles": {"finance"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "no-store", p.Header.Get("Cache-Control"))
	require.Equal(t, email, p.TestID("staff-invite-email"))
	link := p.TestID("staff-invite-link")
	require.Contains(t, link, "/password/reset/")
	require.Empty(t, p.TestID("staff-password"))
	row := p.Doc.Find(`[data-testid="staff-table"] tr`).FilterFunction(func(_ int, s *goquery.Selection) bool {
		return strings.Contains(s.Text(), email)
	})
	require.Equal(t, 1, row.Length())
	require.Equal(t, 1, strings.Count(row.Text(), email), "the email shows once")
	require.Equal(t, 7, p.Doc.Find(`[data-testid="staff-table"] thead th`).Length())

	// The new member sets a password with the link, which then is spent.
	member := webtest.NewClient(t, b.app.URL)
	path := strings.TrimPrefix(link, b.app.URL)
	p = member.Get(path)
	require.Equal(t, email, p.Doc.Find(`[data-testid="welcome"] strong`).Text())
	p = member.PostForm(path, url.Values{"password": {"first password 1"}, "password_confirm": {"first password 1"}})
	require.Equal(t, "/admin/totp", p.URL.Path, "finance enrols before anything else")
	require.NotEmpty(t, p.TestID("totp-required"))
	require.Equal(t, "/admin/totp", member.Get("/admin/statements").URL.Path)
	late := webtest.NewClient(t, b.app.URL)
	late.Get(path)
	p = late.PostForm(path, url.Values{"password": {"second password 2"}, "password_confirm": {"second password 2"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status, "the link works once")

	// Enrolment: the QR image and the secret; a wrong code is refused.
	p = member.Get("/admin/totp")
	secret := p.TestID("totp-secret")
	require.Len(t, secret, 32)
	qr := member.Get(p.Doc.Find(`[data-testid="totp-qr"]`).AttrOr("src", ""))
	require.Equal(t, "image/png", qr.Header.Get("Content-Type"))
	require.True(t, strings.HasPrefix(qr.Body, "\x89PNG"))
	wrong := "000000"
	if b.code(t, secret) == wrong {
		wrong = "111111"
	}
	p = member.PostForm("/admin/totp", url.Values{"code": {wrong}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotEmpty(t, p.Doc.Find(".field-error").Text())
	enrolCode := b.code(t, secret)
	p = member.PostForm("/admin/totp", url.Values{"code": {enrolCode}})
	require.Equal(t, "/admin", p.URL.Path, p.Body)
	require.Equal(t, "/admin/statements", member.Get("/admin/statements").URL.Path)

	// The next sign-in asks for the code; the spent one is refused.
	again := webtest.NewClient(t, b.app.URL)
	again.Get("/signin")
	p = again.PostForm("/signin", url.Values{"login": {email}, "password": {"first password 1"}})
	require.Equal(t, "/signin/totp", p.URL.Path)
	p = again.PostForm("/signin/totp", url.Values{"code": {enrolCode}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status, "a code works once")
	b.clock.Step()
	p = again.PostForm("/signin/totp", url.Values{"code": {b.code(t, secret)}})
	require.Equal(t, "/admin", p.URL.Path)

	// A reset link does not skip the code.
	token, _, err := b.auth.StartPasswordReset(context.Background(), email)
	require.NoError(t, err)
	reset := webtest.NewClient(t, b.app.URL)
	reset.Get("/password/reset/" + token)
	p = reset.PostForm("/password/reset/"+token, url.Values{"password": {"third password 3"}, "password_confirm": {"third password 3"}})
	require.Equal(t, "/signin/totp", p.URL.Path)

	// Audited, with the actor and the address.
	rows, _, err := b.bo.AuditLog(context.Background(), backoffice.AuditFilter{}, 0, 1000)
	require.NoError(t, err)
	seen := map[backoffice.Action]string{}
	for _, r := range rows {
		if strings.Contains(string(r.Detail), email) {
			seen[r.Action] = r.ActorEmail + " " + r.IP
		}
	}
	require.Equal(t, adminUser.Email+" 127.0.0.1", seen[backoffice.ActionStaffCreated])
	require.Equal(t, email+" 127.0.0.1", seen[backoffice.ActionStaffPasswordSet])
	require.Equal(t, email+" 127.0.0.1", seen[backoffice.ActionStaffTOTPEnrolled])
}

func TestStaffDisableRolesAndTOTPReset(t *testing.T) {
	t.Parallel()
	b := setupStaff(t)
	admin, adminUser, _ := b.enrolledAdmin(t, "staff-boss")
	member, memberUser, secret := b.enrolledAdmin(t, "staff-member")
	id := func(u auth.User) string { return strconv.FormatInt(u.ID, 10) }

	// An email used as the name is shown once.
	named, err := b.auth.CreateStaff(context.Background(), auth.StaffRequest{Email: uniqEmail("named-by-email"), Password: "staff password 1", Roles: []auth.Role{auth.RoleSupport}})
	require.NoError(t, err)
	_, err = b.auth.SetProfile(context.Background(), named.ID, named.Email, "")
	require.NoError(t, err)
	p := admin.Get("/admin/staff")
	require.Equal(t, 1, strings.Count(p.Text(`[data-testid="staff-`+id(named)+`"]`), named.Email))

	// Nobody disables themself: no button, and the POST is refused.
	require.Zero(t, p.Doc.Find(`[data-testid="staff-`+id(adminUser)+`"] [data-testid="staff-disable"]`).Length())
	p = admin.PostForm("/admin/staff/"+id(adminUser)+"/disable", url.Values{})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotEmpty(t, p.TestID("staff-error"))

	// Disabling ends the member's session at once and refuses sign-in.
	require.Equal(t, "/admin", member.Get("/admin").URL.Path)
	p = admin.PostForm("/admin/staff/"+id(memberUser)+"/disable", url.Values{})
	require.Equal(t, "/admin/staff", p.URL.Path, p.Body)
	require.Contains(t, p.Doc.Find(`[data-testid="staff-`+id(memberUser)+`"] [data-testid="staff-state"]`).Text(), "已停用")
	require.Equal(t, "/signin", member.Get("/admin").URL.Path)
	member.Get("/signin")
	p = member.PostForm("/signin", url.Values{"login": {memberUser.Email}, "password": {"staff password 1"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)

	// Enabled again, they sign in with both steps.
	admin.PostForm("/admin/staff/"+id(memberUser)+"/enable", url.Values{})
	member = b.signInWithCode(t, memberUser.Email, "staff password 1", secret)

	// Roles: taking one away ends their sessions; the new roles apply.
	p = admin.PostForm("/admin/staff/"+id(memberUser)+"/roles", url.Values{"roles": {"support"}})
	require.Equal(t, "/admin/staff", p.URL.Path)
	got, err := b.auth.UserByID(context.Background(), memberUser.ID)
	require.NoError(t, err)
	require.Equal(t, []auth.Role{auth.RoleSupport}, got.Roles)
	require.Equal(t, "/signin", member.Get("/admin").URL.Path)

	// TOTP reset: signed out, and the next sign-in (admin again) enrols anew.
	_, err = b.auth.SetRoles(context.Background(), memberUser.ID, []auth.Role{auth.RoleAdmin})
	require.NoError(t, err)
	member = b.signInWithCode(t, memberUser.Email, "staff password 1", secret)
	p = admin.PostForm("/admin/staff/"+id(memberUser)+"/totp-reset", url.Values{})
	require.Equal(t, "/admin/staff", p.URL.Path)
	require.Contains(t, p.Doc.Find(`[data-testid="staff-`+id(memberUser)+`"] [data-testid="staff-totp"]`).Text(), "未绑定")
	require.Equal(t, "/signin", member.Get("/admin").URL.Path)
	member.Get("/signin")
	p = member.PostForm("/signin", url.Values{"login": {memberUser.Email}, "password": {"staff password 1"}})
	require.Equal(t, "/admin/totp", p.URL.Path)

	rows, _, err := b.bo.AuditLog(context.Background(), backoffice.AuditFilter{ActorID: adminUser.ID}, 0, 100)
	require.NoError(t, err)
	var actions []backoffice.Action
	for _, r := range rows {
		if r.Action == backoffice.ActionStaffTOTPEnrolled {
			continue // the test's own enrolment, not over HTTP
		}
		require.Equal(t, "127.0.0.1", r.IP)
		actions = append(actions, r.Action)
	}
	require.Equal(t, []backoffice.Action{backoffice.ActionStaffTOTPReset, backoffice.ActionStaffRolesChanged,
		backoffice.ActionStaffEnabled, backoffice.ActionStaffDisabled}, actions)
}

// Wrong codes at the sign-in step are throttled like passwords: after five,
// even the right code waits (429).
func TestStaffTOTPSignInIsThrottled(t *testing.T) {
	t.Parallel()
	b := setupStaff(t)
	_, u, secret := b.enrolledAdmin(t, "staff-throttle")
	c := webtest.NewClient(t, b.app.URL)
	c.Get("/signin")
	p := c.PostForm("/signin", url.Values{"login": {u.Email}, "password": {"staff password 1"}})
	require.Equal(t, "/signin/totp", p.URL.Path)
	right := b.code(t, secret)
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	for range 5 {
		require.Equal(t, http.StatusUnprocessableEntity, c.PostForm("/signin/totp", url.Values{"code": {wrong}}).Status)
	}
	require.Equal(t, http.StatusTooManyRequests, c.PostForm("/signin/totp", url.Values{"code": {right}}).Status)
}
