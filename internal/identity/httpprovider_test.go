package identity_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
)

const (
	fakeAppKey    = "app-test"
	fakeAppSecret = "s3cret-s3cret-s3cret"
)

// fakeGIV is an independent implementation of the server side of GIV/1 as
// documented on identity.HTTPProvider: it recomputes the canonical request
// itself, enforces the clock window and nonce uniqueness, and signs its replies.
type fakeGIV struct {
	t      *testing.T
	now    time.Time
	mu     sync.Mutex
	nonces map[string]bool
	calls  int
	// people maps id_number to the registered name; companies maps credit_code to name and legal rep.
	people    map[string]string
	companies map[string][2]string
	// tamper, when set, corrupts the reply signature; status forces an HTTP status.
	tamper bool
	status int
}

var nonceRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func fakeSign(canonical string) string {
	m := hmac.New(sha256.New, []byte(fakeAppSecret))
	m.Write([]byte(canonical))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (f *fakeGIV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	body, _ := io.ReadAll(r.Body)
	deny := func(why string) {
		f.t.Logf("fake GIV refuses: %s", why)
		http.Error(w, `{"error":"`+why+`"}`, http.StatusUnauthorized)
	}
	if r.Method != http.MethodPost || r.Header.Get("X-Giv-App-Key") != fakeAppKey {
		deny("app_key")
		return
	}
	ts, nonce := r.Header.Get("X-Giv-Timestamp"), r.Header.Get("X-Giv-Nonce")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || f.now.Sub(time.Unix(sec, 0)).Abs() > 300*time.Second {
		deny("timestamp")
		return
	}
	if !nonceRE.MatchString(nonce) || f.nonces[nonce] {
		deny("nonce")
		return
	}
	f.nonces[nonce] = true
	sum := sha256.Sum256(body)
	canonical := fmt.Sprintf("POST\n%s\n%s\n%s\n%x\n", r.URL.EscapedPath(), ts, nonce, sum)
	if !hmac.Equal([]byte(fakeSign(canonical)), []byte(r.Header.Get("X-Giv-Signature"))) {
		deny("bad_signature")
		return
	}

	var in map[string]string
	require.NoError(f.t, json.Unmarshal(body, &in))
	result := "unknown"
	switch r.URL.Path {
	case "/giv/v1/person/verify":
		name, ok := f.people[in["id_number"]]
		switch {
		case !ok:
			result = "not_found"
		case name == "?":
			result = "unknown"
		case name == in["name"]:
			result = "match"
		default:
			result = "mismatch"
		}
	case "/giv/v1/company/verify":
		c, ok := f.companies[in["credit_code"]]
		switch {
		case !ok:
			result = "not_found"
		case c[0] != in["name"]:
			result = "mismatch"
		case c[1] != in["legal_representative"]:
			result = "legal_rep_mismatch"
		default:
			result = "match"
		}
	default:
		http.NotFound(w, r)
		return
	}
	status := http.StatusOK
	if f.status != 0 {
		status = f.status
	}
	reply, _ := json.Marshal(map[string]string{"request_id": fmt.Sprintf("REQ-%d", f.calls), "result": result})
	rts := strconv.FormatInt(f.now.Unix(), 10)
	rsum := sha256.Sum256(reply)
	sig := fakeSign("RESPONSE\n" + strconv.Itoa(status) + "\n" + rts + "\n" + nonce + "\n" + hex.EncodeToString(rsum[:]) + "\n")
	if f.tamper {
		sig = fakeSign("something else")
	}
	w.Header().Set("X-Giv-Timestamp", rts)
	w.Header().Set("X-Giv-Signature", sig)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(reply)
}

type httpBundle struct {
	fake     *fakeGIV
	srv      *httptest.Server
	provider *identity.HTTPProvider
}

func setupHTTP(t *testing.T, secret string, clock time.Time) *httpBundle {
	t.Helper()
	fake := &fakeGIV{
		t: t, now: time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC), nonces: map[string]bool{},
		people: map[string]string{
			"110101199003070011": "张三",
			"11010519491231002X": "李四",
			"310104198512120023": "?",
		},
		companies: map[string][2]string{"91440300708461136T": {"深圳市腾讯计算机系统有限公司", "马化腾"}},
	}
	srv := httptest.NewTLSServer(fake)
	t.Cleanup(srv.Close)
	p, err := identity.NewHTTPProvider(identity.HTTPConfig{
		Endpoint: srv.URL + "/giv/", AppKey: fakeAppKey, AppSecret: secret,
		Client: srv.Client(), Now: func() time.Time { return clock },
	})
	require.NoError(t, err)
	return &httpBundle{fake: fake, srv: srv, provider: p}
}

func TestHTTPProvider(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := time.Date(2025, 6, 1, 4, 0, 30, 0, time.UTC)

	t.Run("PersonOutcomes", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, fakeAppSecret, clock)
		tests := []struct {
			name, id string
			want     identity.Status
			reason   string
		}{
			{"张三", "110101199003070011", identity.StatusVerified, ""},
			{" 李四 ", "11010519491231002x", identity.StatusVerified, ""}, // normalised before sending
			{"王五", "110101199003070011", identity.StatusRejected, identity.ReasonNameMismatch},
			{"赵六", "440305200002290037", identity.StatusRejected, identity.ReasonNotFound},
			{"钱七", "310104198512120023", identity.StatusUndecided, identity.ReasonManualReview},
		}
		for _, tt := range tests {
			res, err := b.provider.VerifyPerson(ctx, tt.name, tt.id)
			require.NoError(t, err, tt.name)
			require.Equal(t, tt.want, res.Status, tt.name)
			require.Equal(t, tt.reason, res.Reason, tt.name)
			require.Regexp(t, `^REQ-\d+$`, res.Reference)
		}
		require.Len(t, b.fake.nonces, len(tests), "a fresh nonce per request")
	})

	t.Run("CompanyOutcomes", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, fakeAppSecret, clock)
		res, err := b.provider.VerifyCompany(ctx, "深圳市腾讯计算机系统有限公司", "91440300708461136t", "马化腾")
		require.NoError(t, err)
		require.Equal(t, identity.StatusVerified, res.Status)
		res, err = b.provider.VerifyCompany(ctx, "深圳市腾讯计算机系统有限公司", "91440300708461136T", "张三")
		require.NoError(t, err)
		require.Equal(t, identity.Result{Status: identity.StatusRejected, Reason: identity.ReasonLegalRep, Reference: "REQ-2"}, res)
	})

	t.Run("WrongSecretIsNoAnswer", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, "another-secret-entirely", clock)
		_, err := b.provider.VerifyPerson(ctx, "张三", "110101199003070011")
		require.ErrorIs(t, err, identity.ErrProviderUnavailable)
		require.ErrorContains(t, err, "401")
	})

	t.Run("ClockSkewRefused", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, fakeAppSecret, clock.Add(-10*time.Minute))
		_, err := b.provider.VerifyPerson(ctx, "张三", "110101199003070011")
		require.ErrorIs(t, err, identity.ErrProviderUnavailable)
	})

	t.Run("ForgedReplyRefused", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, fakeAppSecret, clock)
		b.fake.tamper = true
		_, err := b.provider.VerifyPerson(ctx, "张三", "110101199003070011")
		require.ErrorIs(t, err, identity.ErrProviderUnavailable)
		require.ErrorContains(t, err, "signature")
	})

	t.Run("ServerErrorIsNoAnswer", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, fakeAppSecret, clock)
		b.fake.status = http.StatusServiceUnavailable
		_, err := b.provider.VerifyPerson(ctx, "张三", "110101199003070011")
		require.ErrorIs(t, err, identity.ErrProviderUnavailable)
	})

	t.Run("ServerDown", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, fakeAppSecret, clock)
		b.srv.Close()
		_, err := b.provider.VerifyPerson(ctx, "张三", "110101199003070011")
		require.ErrorIs(t, err, identity.ErrProviderUnavailable)
	})

	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, fakeAppSecret, clock)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := b.provider.VerifyPerson(cctx, "张三", "110101199003070011")
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestNewHTTPProviderConfig(t *testing.T) {
	t.Parallel()

	ok := identity.HTTPConfig{Endpoint: "https://verify.example.com/giv", AppKey: "k", AppSecret: fakeAppSecret}
	_, err := identity.NewHTTPProvider(ok)
	require.NoError(t, err)

	for name, mod := range map[string]func(c *identity.HTTPConfig){
		"PlainHTTPRemote": func(c *identity.HTTPConfig) { c.Endpoint = "http://verify.example.com" },
		"Relative":        func(c *identity.HTTPConfig) { c.Endpoint = "/giv" },
		"NoKey":           func(c *identity.HTTPConfig) { c.AppKey = "" },
		"ShortSecret":     func(c *identity.HTTPConfig) { c.AppSecret = "short" },
	} {
		c := ok
		mod(&c)
		_, err := identity.NewHTTPProvider(c)
		require.Error(t, err, name)
	}
	c := ok
	c.Endpoint = "http://127.0.0.1:8099/giv"
	_, err = identity.NewHTTPProvider(c)
	require.NoError(t, err, "plain http allowed to loopback")
}

func TestSandboxProvider(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := identity.Sandbox{Now: func() time.Time { return today }}

	for _, p := range identity.SandboxPeople {
		res, err := sb.VerifyPerson(ctx, p.Name, p.Number)
		require.NoError(t, err)
		require.Equal(t, p.Status, res.Status, p.Name)
		require.Equal(t, p.Reason, res.Reason, p.Name)
		require.Regexp(t, `^SBX-[0-9A-F]{16}$`, res.Reference)
		again, _ := sb.VerifyPerson(ctx, p.Name, p.Number)
		require.Equal(t, res, again, "deterministic")
	}
	for _, c := range identity.SandboxCompanies {
		res, err := sb.VerifyCompany(ctx, c.Name, c.Number, c.LegalRep)
		require.NoError(t, err)
		require.Equal(t, c.Status, res.Status, c.Name)
		require.Equal(t, c.Reason, res.Reason, c.Name)
	}

	res, err := sb.VerifyPerson(ctx, "张三", "110101199003070012")
	require.NoError(t, err)
	require.Equal(t, identity.Result{Status: identity.StatusRejected, Reason: identity.ReasonInvalidNumber, Reference: res.Reference}, res)
	res, err = sb.VerifyPerson(ctx, "", "110101199003070011")
	require.NoError(t, err)
	require.Equal(t, identity.StatusRejected, res.Status)
	res, err = sb.VerifyCompany(ctx, "北京示例科技有限公司", "91110108MA01ABC125", "")
	require.NoError(t, err)
	require.Equal(t, identity.ReasonLegalRep, res.Reason)

	// Any generated identity with an ordinary sequence verifies: tests can mint
	// unique identities per account.
	n, err := identity.BuildResidentID("320102", time.Date(1992, 8, 8, 0, 0, 0, 0, time.UTC), 123)
	require.NoError(t, err)
	res, err = sb.VerifyPerson(ctx, "周九", n)
	require.NoError(t, err)
	require.Equal(t, identity.StatusVerified, res.Status)

	var _ identity.Provider = sb
	var _ identity.Provider = (*identity.HTTPProvider)(nil)
}
