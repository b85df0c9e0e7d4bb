package web_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/config"
	"github.com/seed75218f88/credits/web/webtest"
)

// fromPeer makes c connect from the loopback address ip (all of
// 127.0.0.0/8 reaches the server on Linux), so the server sees ip as the
// TCP peer. Each test uses peers of its own: the per-address sign-in limit
// is shared by the package's database.
func fromPeer(c *webtest.Client, ip string) *webtest.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c.HTTP.Transport = &http.Transport{DialContext: d.DialContext}
	return c
}

// signInAs posts the sign-in form from c with X-Forwarded-For xff (none
// when empty) and returns the answer's status, without following it.
func signInAs(t *testing.T, c *webtest.Client, xff, login, password string) int {
	t.Helper()
	c.FollowRedirects = false
	defer func() { c.FollowRedirects = true }()
	c.Header.Del("X-Forwarded-For")
	if xff != "" {
		c.Header.Set("X-Forwarded-For", xff)
	}
	defer c.Header.Del("X-Forwarded-For")
	return c.PostForm("/signin", url.Values{"login": {login}, "password": {password}}).Status
}

// recordedIPs lists the addresses sign_in_attempts holds for login.
func recordedIPs(t *testing.T, b *portalBundle, login string) []string {
	t.Helper()
	rows, err := b.app.Pool.Query(context.Background(),
		`SELECT coalesce(host(ip), '') FROM sign_in_attempts WHERE login = $1 ORDER BY id`, login)
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestClientAddressIsTheTCPPeer: without TRUSTED_PROXIES the client cannot
// choose its own address. Rotating X-Forwarded-For (and X-Real-IP) used to
// give every guess a fresh address, and an unparsable one (`x`) turned the
// per-address limit off; both now count against the TCP peer.
func TestClientAddressIsTheTCPPeer(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)

	t.Run("RotatingXForwardedForDoesNotDefeatTheLimit", func(t *testing.T) {
		c := fromPeer(webtest.NewClient(t, b.app.URL), "127.14.0.1")
		c.Get("/signin")
		for i := range 20 { // a spray: one guess at each of 20 logins
			c.Header.Set("X-Real-IP", fmt.Sprintf("198.51.100.%d", i+1))
			status := signInAs(t, c, fmt.Sprintf("203.0.113.%d", i+1), fmt.Sprintf("spray-%d@example.com", i), "wrong password")
			require.Equal(t, http.StatusUnprocessableEntity, status, "guess %d", i+1)
		}
		require.Equal(t, http.StatusTooManyRequests, signInAs(t, c, "203.0.113.99", "spray-99@example.com", "wrong password"),
			"the 21st guess from one peer is refused, whatever the headers say")
		require.Equal(t, []string{"127.14.0.1"}, recordedIPs(t, b, "spray-0@example.com"))
	})

	t.Run("UnparsableXForwardedForDoesNotTurnItOff", func(t *testing.T) {
		c := fromPeer(webtest.NewClient(t, b.app.URL), "127.14.0.2")
		c.Get("/signin")
		for i := range 20 {
			status := signInAs(t, c, "x", fmt.Sprintf("x-spray-%d@example.com", i), "wrong password")
			require.Equal(t, http.StatusUnprocessableEntity, status, "guess %d", i+1)
		}
		require.Equal(t, http.StatusTooManyRequests, signInAs(t, c, "x", "x-spray-99@example.com", "wrong password"))
		require.Equal(t, []string{"127.14.0.2"}, recordedIPs(t, b, "x-spray-0@example.com"))
	})
}

// TestTrustedProxyForwardedForIsHonoured: behind a proxy listed in
// TRUSTED_PROXIES the client is the address the proxy appended (the first
// untrusted one from the right, never one the client wrote before it), and
// per-address throttling works per real client: the lock-out attack from
// other clients leaves the owner's sign-in open, brute force from one
// client is still stopped.
func TestTrustedProxyForwardedForIsHonoured(t *testing.T) {
	t.Parallel()
	b := setupPortal(t, webtest.WithConfig(func(c *config.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.14.1.0/24")}
	}))
	victim, _ := b.register(t, "proxied-victim@example.com", "")
	victim.PostForm("/signout", url.Values{})
	proxy := fromPeer(webtest.NewClient(t, b.app.URL), "127.14.1.1")
	proxy.Get("/signin")

	// The attacker guesses from six addresses: five used to lock the owner out.
	for i := range 6 {
		xff := fmt.Sprintf("203.0.113.%d", 10+i)
		require.Equal(t, http.StatusUnprocessableEntity, signInAs(t, proxy, xff, "proxied-victim@example.com", "wrong password"))
	}
	// The owner, from their own address, gets in.
	require.Equal(t, http.StatusSeeOther, signInAs(t, proxy, "198.51.100.20", "proxied-victim@example.com", "correct horse 1"))
	ips := recordedIPs(t, b, "proxied-victim@example.com")
	require.Equal(t, "203.0.113.10", ips[0])
	require.Equal(t, "198.51.100.20", ips[len(ips)-1])

	// A client's own X-Forwarded-For entry before the proxy's is not
	// believed; nor is a private address trusted as a proxy unless listed
	// (echo's extractor would trust every private network by default).
	require.Equal(t, http.StatusUnprocessableEntity, signInAs(t, proxy, "10.9.9.9, 198.51.100.30", "someone-else@example.com", "wrong password"))
	require.Equal(t, http.StatusUnprocessableEntity, signInAs(t, proxy, "198.51.100.31, 10.9.9.9", "someone-else@example.com", "wrong password"))
	require.Equal(t, []string{"198.51.100.30", "10.9.9.9"}, recordedIPs(t, b, "someone-else@example.com"))

	// Brute force from one client address is still stopped at five.
	for range 5 {
		require.Equal(t, http.StatusUnprocessableEntity, signInAs(t, proxy, "203.0.113.50", "proxied-victim@example.com", "wrong password"))
	}
	require.Equal(t, http.StatusTooManyRequests, signInAs(t, proxy, "203.0.113.50", "proxied-victim@example.com", "correct horse 1"))

	// A peer that is not a listed proxy is its own address, header or not.
	direct := fromPeer(webtest.NewClient(t, b.app.URL), "127.14.2.1")
	direct.Get("/signin")
	require.Equal(t, http.StatusUnprocessableEntity, signInAs(t, direct, "198.51.100.40", "direct@example.com", "wrong password"))
	require.Equal(t, []string{"127.14.2.1"}, recordedIPs(t, b, "direct@example.com"))
}

// TestAuditAndPIILogsRecordThePeer: a staff action's audit row and an ID
// number reveal's pii_access_log row hold the TCP peer's address, not the
// one a forged X-Forwarded-For names.
func TestAuditAndPIILogsRecordThePeer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("AuditLog", func(t *testing.T) {
		t.Parallel()
		b := setupAdmin(t)
		admin := fromPeer(b.staff(t, "peer-audit", auth.RoleAdmin), "127.14.3.1")
		admin.Header.Set("X-Forwarded-For", "203.0.113.66")
		admin.Header.Set("X-Real-IP", "203.0.113.67")
		admin.Get("/admin/keys")
		createKey(t, admin, "peer audit key", "test")
		var ip string
		require.NoError(t, b.app.Pool.QueryRow(ctx,
			`SELECT host(ip) FROM admin_audit_log WHERE action = 'api_key_created' AND detail::text LIKE '%peer audit key%'`).Scan(&ip))
		require.Equal(t, "127.14.3.1", ip)
	})

	t.Run("PIIAccessLog", func(t *testing.T) {
		t.Parallel()
		b := setupKYC(t, kycOpts{})
		customer, u := b.register(t, "peer-pii@example.com")
		number := newPersonID(t)
		customer.PostForm("/portal/verification/person", url.Values{"name": {"张三"}, "id_number": {number}, "consent_sensitive_pi": {"yes"}})
		st, err := b.verif.Status(ctx, u.AccountID)
		require.NoError(t, err)
		admin := fromPeer(b.staff(t, "peer-pii-admin@example.com", auth.RoleAdmin), "127.14.3.2")
		admin.Header.Set("X-Forwarded-For", "203.0.113.68")
		admin.Get("/admin/kyc")
		p := admin.PostForm("/admin/kyc/reveal", url.Values{"id": {strconv.FormatInt(st.VerificationID, 10)}})
		require.Equal(t, number, p.TestID("kyc-revealed-number"))
		var ip string
		require.NoError(t, b.app.Pool.QueryRow(ctx,
			`SELECT ip FROM pii_access_log WHERE verification_id = $1 AND viewer LIKE '%:peer-pii-admin@example.com'`, st.VerificationID).Scan(&ip))
		require.Equal(t, "127.14.3.2", ip)
	})
}

// TestOneFunctionReadsTheClientAddress: no handler or middleware reads the
// address or its headers itself; web.ClientIP is the one place.
func TestOneFunctionReadsTheClientAddress(t *testing.T) {
	t.Parallel()
	banned := regexp.MustCompile(`RealIP\(\)|RemoteAddr|X-Forwarded-For|HeaderXForwardedFor|X-Real-Ip|X-Real-IP|HeaderXRealIP`)
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	checked := 0
	for _, f := range files {
		if f == "clientip.go" || regexp.MustCompile(`_test\.go$|_templ\.go$`).MatchString(f) {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.False(t, banned.Match(b), "%s reads the client address itself: use web.ClientIP", f)
		checked++
	}
	require.Greater(t, checked, 20)
}
