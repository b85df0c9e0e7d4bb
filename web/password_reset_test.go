package web_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/platform/mail/mailtest"
	"github.com/seed75218f88/credits/web/webtest"
)

// The reset tests start no River client of their own, or one that works
// every job of the package's database (jobstest), so they do not run in
// parallel: the others run after them, and the job counts here are exact.

// TestForgotPasswordMailsAOneTimeLink: the reset mail is queued, sent by the
// River mail worker through a real SMTP server, and its link sets a new
// password once.
func TestForgotPasswordMailsAOneTimeLink(t *testing.T) {
	smtp := mailtest.NewServer(t)
	b := setupPortal(t, webtest.WithOwnDatabase(), webtest.WithJobs(),
		webtest.WithOverrides(func(o *app.Overrides) { o.Mail = smtp.Sender(t) }))
	b.register(t, "bob-reset@example.com", "")
	c := webtest.NewClient(t, b.app.URL)
	c.Get("/password/forgot")
	p := c.PostForm("/password/forgot", url.Values{"login": {"bob-reset@example.com"}})
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.TestID("flash-success"), "如果该账号存在")

	msg := smtp.WaitTo(t, "bob-reset@example.com", 1)[0]
	require.Equal(t, "重置您的算力点数密码", msg.Subject)
	i := strings.Index(msg.Text, b.app.URL+"/password/reset/")
	require.GreaterOrEqual(t, i, 0, msg.Text)
	path := strings.TrimPrefix(strings.Fields(msg.Text[i:])[0], b.app.URL)

	c.Get(path)
	p = c.PostForm(path, url.Values{"password": {"brand new pass 9"}, "password_confirm": {"brand new pass 9"}})
	require.Equal(t, "/portal", p.URL.Path)
	// The link works once.
	c.Get(path)
	p = c.PostForm(path, url.Values{"password": {"another pass 10"}, "password_confirm": {"another pass 10"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	// The new password signs in.
	c2 := webtest.NewClient(t, b.app.URL)
	c2.Get("/signin")
	p = c2.PostForm("/signin", url.Values{"login": {"bob-reset@example.com"}, "password": {"brand new pass 9"}})
	require.Equal(t, "/portal", p.URL.Path)
}

// TestForgotPasswordQueuesTheMailWithTheToken: the request answers without
// sending anything; it leaves one mail job, committed in the token's
// transaction, in the requester's language. Unknown logins, users without
// an email address and throttled requests get the same page and queue
// nothing. No River worker runs here (the server's insert-only client).
func TestForgotPasswordQueuesTheMailWithTheToken(t *testing.T) {
	b := setupPortal(t)
	ctx := context.Background()
	pool := b.app.Pool
	_, carol := b.register(t, "carol-reset@example.com", "")
	t.Cleanup(func() {
		// Later tests run mail workers: leave them none of these jobs to send.
		_, err := pool.Exec(ctx, `DELETE FROM river_job WHERE kind = 'mail_send' AND args->'message'->'to' @> jsonb_build_array($1::text)`,
			"carol-reset@example.com")
		require.NoError(t, err)
	})
	_, phoneOnly := b.register(t, "13900139007", "")

	c := webtest.NewClient(t, b.app.URL)
	c.Header.Set("Accept-Language", "en")
	c.Get("/password/forgot")
	forgot := func(login string) *webtest.Page {
		t.Helper()
		p := c.PostForm("/password/forgot", url.Values{"login": {login}})
		require.Equal(t, http.StatusOK, p.Status)
		return p
	}

	before := countJobs(t, pool)
	sent := forgot("carol-reset@example.com")
	require.Contains(t, sent.TestID("flash-success"), "If that account exists")
	require.Equal(t, before+1, countJobs(t, pool), "exactly one job")
	jobs := mailtest.QueuedTo(t, pool, "carol-reset@example.com")
	require.Len(t, jobs, 1)
	job := jobs[0]
	require.Equal(t, "available", job.State, "queued, not sent by the request")
	require.Equal(t, "Reset your Credits password", job.Subject, "in the requester's language")
	i := strings.Index(job.Text, b.app.URL+"/password/reset/")
	require.GreaterOrEqual(t, i, 0, job.Text)
	token := strings.TrimPrefix(strings.Fields(job.Text[i:])[0], b.app.URL+"/password/reset/")

	// The job and the token it carries were written by one transaction.
	sum := sha256.Sum256([]byte(token))
	var tokenXmin string
	require.NoError(t, pool.QueryRow(ctx, `SELECT xmin::text FROM password_reset_tokens WHERE token_hash = $1 AND user_id = $2`,
		sum[:], carol.ID).Scan(&tokenXmin))
	require.Equal(t, tokenXmin, job.Xmin)

	// An unknown login: the same page, nothing queued.
	before = countJobs(t, pool)
	unknown := forgot("nobody-reset@example.com")
	require.Equal(t, sent.Body, unknown.Body)
	require.Equal(t, before, countJobs(t, pool))

	// A user who signs in by phone only has no mailbox: no token, no job.
	unreachable := forgot("139 0013 9007")
	require.Equal(t, sent.Body, unreachable.Body)
	require.Equal(t, before, countJobs(t, pool))
	require.Zero(t, countTokens(t, pool, phoneOnly.ID))

	// Three requests per 15 minutes; the fourth is throttled silently.
	forgot("carol-reset@example.com")
	forgot("carol-reset@example.com")
	require.Len(t, mailtest.QueuedTo(t, pool, "carol-reset@example.com"), 3)
	before = countJobs(t, pool)
	throttled := forgot("carol-reset@example.com")
	require.Equal(t, sent.Body, throttled.Body)
	require.Equal(t, before, countJobs(t, pool), "throttled: nothing more queued")
	require.Equal(t, 3, countTokens(t, pool, carol.ID))
}

func countJobs(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job`).Scan(&n))
	return n
}

func countTokens(t *testing.T, pool *pgxpool.Pool, userID int64) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM password_reset_tokens WHERE user_id = $1`, userID).Scan(&n))
	return n
}
