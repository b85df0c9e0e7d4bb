package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/web/webtest"
)

// secondInstance starts another server process's worth of server (its own
// session cache) on the same database as b.
func secondInstance(t *testing.T) *webtest.App {
	t.Helper()
	return webtest.Start(t)
}

// signedIn signs login in on the server at base with a new cookie jar and
// checks that the portal opens.
func signedIn(t *testing.T, base, login, password string) *webtest.Client {
	t.Helper()
	c := webtest.NewClient(t, base)
	c.Get("/signin")
	p := c.PostForm("/signin", url.Values{"login": {login}, "password": {password}})
	require.Equal(t, "/portal", p.URL.Path, p.Body)
	require.Equal(t, "/portal", c.Get("/portal").URL.Path)
	return c
}

// TestPasswordChangeEndsTheOtherSessions: one customer signed in with
// three cookie jars, two on this server and one on another instance (each
// with the portal freshly loaded, so both session caches trust the
// session). Changing the password in one jar signs the other two out at
// once, on both instances; the changer stays signed in.
func TestPasswordChangeEndsTheOtherSessions(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	other := secondInstance(t)
	changer, _ := b.register(t, "two-jars@example.com", "")
	here := signedIn(t, b.app.URL, "two-jars@example.com", "correct horse 1")
	there := signedIn(t, other.URL, "two-jars@example.com", "correct horse 1")

	changer.Get("/portal/password")
	p := changer.PostForm("/portal/password", url.Values{"current": {"correct horse 1"}, "password": {"brand new horse 2"}, "password_confirm": {"brand new horse 2"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)

	require.Equal(t, "/signin", there.Get("/portal").URL.Path, "another instance ends the session at once, not 2 s later")
	require.Equal(t, "/signin", here.Get("/portal/usage").URL.Path)
	require.Equal(t, "/portal", changer.Get("/portal").URL.Path, "the changer stays signed in")
	require.Equal(t, "/portal/usage", changer.Get("/portal/usage").URL.Path)

	// The ended sessions stay ended; the new password signs in anew.
	require.Equal(t, "/signin", there.Get("/portal").URL.Path)
	signedIn(t, other.URL, "two-jars@example.com", "brand new horse 2")
}

// TestPasswordResetEndsEverySession: a reset by the mailed link ends every
// session the user had, on every instance; the browser that reset it is
// signed in anew.
func TestPasswordResetEndsEverySession(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	other := secondInstance(t)
	first, _ := b.register(t, "reset-all@example.com", "")
	there := signedIn(t, other.URL, "reset-all@example.com", "correct horse 1")

	// The token the mail would carry (the mail itself: password_reset_test.go).
	token, _, err := b.auth.StartPasswordReset(context.Background(), "reset-all@example.com")
	require.NoError(t, err)
	resetter := webtest.NewClient(t, b.app.URL)
	resetter.Get("/password/reset/" + token)
	p := resetter.PostForm("/password/reset/"+token, url.Values{"password": {"after reset 3"}, "password_confirm": {"after reset 3"}})
	require.Equal(t, "/portal", p.URL.Path)

	require.Equal(t, "/signin", first.Get("/portal").URL.Path)
	require.Equal(t, "/signin", there.Get("/portal").URL.Path)
	require.Equal(t, "/portal", resetter.Get("/portal").URL.Path)
}

// TestStaffSessionsEndWhenDisabledOrARoleIsRemoved: taking a role away
// from a signed-in staff user, on this instance or another, ends their
// sessions (adding one does not); so does disabling them, after which they
// cannot sign in again.
func TestStaffSessionsEndWhenDisabledOrARoleIsRemoved(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	other := secondInstance(t)
	ctx := context.Background()
	admin := b.staffClient(t, "ends-admin@example.com", auth.RoleAdmin)
	admin.FollowRedirects = true
	staff := b.staffClient(t, "ends-staff@example.com", auth.RoleSupport, auth.RoleFinance)
	staff.FollowRedirects = true
	u, err := b.auth.UserByLogin(ctx, "ends-staff@example.com")
	require.NoError(t, err)
	there := webtest.NewClient(t, other.URL)
	there.Get("/signin")
	require.Equal(t, "/admin", there.PostForm("/signin", url.Values{"login": {"ends-staff@example.com"}, "password": {"staff password 1"}}).URL.Path)
	require.Equal(t, http.StatusOK, staff.Get("/admin").Status)
	require.Equal(t, http.StatusOK, there.Get("/admin").Status)

	setRoles := func(roles ...string) {
		t.Helper()
		admin.Get("/admin/staff")
		p := admin.PostForm("/admin/staff/"+strconv.FormatInt(u.ID, 10)+"/roles", url.Values{"roles": roles})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
	}
	setRoles("support", "finance", "admin")
	require.Equal(t, "/admin", staff.Get("/admin").URL.Path, "adding a role ends nothing")

	setRoles("support")
	require.Equal(t, "/signin", staff.Get("/admin").URL.Path, "a role was taken away")
	require.Equal(t, "/signin", there.Get("/admin").URL.Path, "on the other instance too")
	require.Equal(t, "/admin", admin.Get("/admin").URL.Path, "the admin who did it is not affected")

	staff.Get("/signin")
	require.Equal(t, "/admin", staff.PostForm("/signin", url.Values{"login": {"ends-staff@example.com"}, "password": {"staff password 1"}}).URL.Path)
	require.NoError(t, b.auth.SetDisabled(ctx, u.ID, true))
	require.Equal(t, "/signin", staff.Get("/admin").URL.Path, "disabled")
	p := staff.PostForm("/signin", url.Values{"login": {"ends-staff@example.com"}, "password": {"staff password 1"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, "/signin", staff.Get("/admin").URL.Path)
}
