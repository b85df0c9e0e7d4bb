package passwordreset_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/passwordreset"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/jobs/jobstest"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/platform/mail/mailtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const linkBase = "https://credits.example/password/reset/"

type testBundle struct {
	pool   *pgxpool.Pool
	auth   *auth.Service
	queue  *jobs.Client // insert-only: jobs stay queued for the test to read
	resets *passwordreset.Service
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	queue, err := jobs.New(pool, nil, jobs.Options{InsertOnly: true})
	require.NoError(t, err)
	bundle, err := i18n.Default()
	require.NoError(t, err)
	a := auth.New(pool, auth.Options{Argon2: auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	return &testBundle{pool: pool, auth: a, queue: queue, resets: &passwordreset.Service{Pool: pool, Auth: a, Jobs: queue, I18n: bundle,
		Link: func(token string) string { return linkBase + token }}}
}

var seq atomic.Int64

// customer registers a user signing in with login (an email address or a
// mobile number); "%d" in login is replaced by a number no other test uses.
func (b *testBundle) customer(t *testing.T, login string) auth.User {
	t.Helper()
	u, err := b.auth.Register(context.Background(), auth.RegisterRequest{Login: fmt.Sprintf(login, seq.Add(1)), Password: "correct horse 42"})
	require.NoError(t, err)
	return u
}

func (b *testBundle) tokens(t *testing.T, userID int64) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM password_reset_tokens WHERE user_id = $1`, userID).Scan(&n))
	return n
}

// tokenOf is the token in a reset mail's link.
func tokenOf(t *testing.T, text string) string {
	t.Helper()
	i := strings.Index(text, linkBase)
	require.GreaterOrEqual(t, i, 0, text)
	return strings.TrimPrefix(strings.Fields(text[i:])[0], linkBase)
}

func TestRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("QueuesOneMailInTheTokensTransaction", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := b.customer(t, "queued.%d@example.cn")
		require.NoError(t, b.resets.Request(ctx, u.Email, i18n.En))

		jobs := mailtest.QueuedTo(t, b.pool, u.Email)
		require.Len(t, jobs, 1)
		require.Equal(t, "available", jobs[0].State)
		require.Equal(t, "Reset your Credits password", jobs[0].Subject)
		token := tokenOf(t, jobs[0].Text)
		sum := sha256.Sum256([]byte(token))
		var xmin string
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT xmin::text FROM password_reset_tokens WHERE token_hash = $1 AND user_id = $2`,
			sum[:], u.ID).Scan(&xmin))
		require.Equal(t, xmin, jobs[0].Xmin, "token and job committed by one transaction")

		// The link in the mail resets the password.
		_, err := b.auth.ResetPassword(ctx, token, "brand new secret")
		require.NoError(t, err)
	})

	t.Run("WrittenInTheRequestersLanguage", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := b.customer(t, "zh.%d@example.cn")
		require.NoError(t, b.resets.Request(ctx, u.Email, i18n.ZhCN))
		jobs := mailtest.QueuedTo(t, b.pool, u.Email)
		require.Len(t, jobs, 1)
		require.Equal(t, "重置您的算力点数密码", jobs[0].Subject)
		require.Contains(t, jobs[0].Text, "30 分钟内有效")
	})

	t.Run("RolledBackTokenLeavesNoJob", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := b.customer(t, "rollback.%d@example.cn")
		broken := &failAfterInsert{Inserter: b.queue}
		s := *b.resets
		s.Jobs = broken
		err := s.Request(ctx, u.Email, i18n.En)
		require.Error(t, err)
		require.False(t, passwordreset.Refused(err), "a failure, not a refusal: the page shows an error")
		require.Len(t, broken.ids, 1, "the job was inserted in the transaction")
		var n int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE id = $1`, broken.ids[0]).Scan(&n))
		require.Zero(t, n, "rolled back with the token")
		require.Empty(t, mailtest.QueuedTo(t, b.pool, u.Email))
		require.Zero(t, b.tokens(t, u.ID))
	})

	t.Run("RefusalsQueueNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		phoneOnly := b.customer(t, "1370%07d")
		disabled := b.customer(t, "off.%d@example.cn")
		require.NoError(t, b.auth.SetDisabled(ctx, disabled.ID, true))
		for _, tc := range []struct {
			login string
			want  error
		}{
			{"nobody.reset@example.cn", auth.ErrNotFound},
			{"li@", auth.ErrInvalidEmail},
			{"12345", auth.ErrInvalidPhone},
			{phoneOnly.Phone, passwordreset.ErrNoEmail},
			{disabled.Email, auth.ErrUserDisabled},
		} {
			err := b.resets.Request(ctx, tc.login, i18n.En)
			require.ErrorIs(t, err, tc.want, tc.login)
			require.True(t, passwordreset.Refused(err), tc.login)
		}
		require.Zero(t, b.tokens(t, phoneOnly.ID), "no token nobody can receive")
		require.Zero(t, b.tokens(t, disabled.ID))
		require.Empty(t, mailtest.QueuedTo(t, b.pool, disabled.Email))
	})

	t.Run("ThrottledAfterThree", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := b.customer(t, "spam.%d@example.cn")
		for range 3 {
			require.NoError(t, b.resets.Request(ctx, u.Email, i18n.En))
		}
		err := b.resets.Request(ctx, u.Email, i18n.En)
		require.ErrorIs(t, err, auth.ErrResetThrottled)
		require.True(t, passwordreset.Refused(err))
		require.Len(t, mailtest.QueuedTo(t, b.pool, u.Email), 3)
		require.Equal(t, 3, b.tokens(t, u.ID))
	})
}

// failAfterInsert enqueues for real, then fails, as a transaction that
// breaks after the job was queued.
type failAfterInsert struct {
	jobs.Inserter
	ids []int64
}

func (f *failAfterInsert) InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	res, err := f.Inserter.InsertTx(ctx, tx, args, opts)
	if err != nil {
		return nil, err
	}
	f.ids = append(f.ids, res.Job.ID)
	return nil, errors.New("the transaction broke after queueing")
}

// TestMailSurvivesAnSMTPFailure: the SMTP server refuses the first attempt;
// the mail job retries and the mail arrives. Not parallel: the River client
// works every job of the package's database.
func TestMailSurvivesAnSMTPFailure(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	smtp := mailtest.NewServer(t)
	smtp.RequireAuth("credits", "secret") // our sender does not log in: refused
	workers := river.NewWorkers()
	river.AddWorker(workers, mail.NewSendWorker(smtp.Sender(t)))
	b.resets.Jobs = jobstest.Start(t, b.pool, workers)
	u := b.customer(t, "retry.%d@example.cn")

	start := time.Now()
	require.NoError(t, b.resets.Request(ctx, u.Email, i18n.En))
	require.Less(t, time.Since(start), time.Second, "the request does not wait on SMTP")
	require.Eventually(t, func() bool {
		var failures int
		err := b.pool.QueryRow(ctx, `SELECT coalesce(array_length(errors, 1), 0) FROM river_job
WHERE kind = 'mail_send' AND args->'message'->'to' @> jsonb_build_array($1::text)`, u.Email).Scan(&failures)
		return err == nil && failures > 0
	}, 10*time.Second, 10*time.Millisecond, "the first send fails")
	require.Empty(t, smtp.MessagesTo(u.Email))

	smtp.RequireAuth("", "") // the server recovers before the retry (1 s later)
	msgs := smtp.WaitTo(t, u.Email, 1)
	require.Equal(t, []string{u.Email}, msgs[0].To)
	require.Equal(t, "Reset your Credits password", msgs[0].Subject)
	_, err := b.auth.ResetPassword(ctx, tokenOf(t, msgs[0].Text), "brand new secret")
	require.NoError(t, err, "the delivered link works")
}
