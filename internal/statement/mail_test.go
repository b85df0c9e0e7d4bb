package statement_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/platform/mail"
	"github.com/seed75218f88/credits/internal/statement"
)

// A month's statement is mailed to an account once, PDF and XLSX attached,
// however many runs race (64 here): the mailing's row and the mail job are
// written in one transaction under the row's primary key. The monthly run
// then finds nothing left for that account.
func TestStatementMailedOncePerAccountAndMonth(t *testing.T) {
	b := setup(t)
	acc := seedIndividual(t, b)
	pool := dbtest.Pool(t)
	ins, err := jobs.New(pool, nil, jobs.Options{InsertOnly: true})
	require.NoError(t, err)
	bundle, err := i18n.Default()
	require.NoError(t, err)
	ml := &statement.Mailer{Service: b.svc, Pool: pool, Jobs: ins, I18n: bundle, PortalURL: "https://example.com/portal/statements",
		Recipients: func(_ context.Context, id int64) ([]string, error) {
			if id == acc.ID {
				return []string{"billing@example.com"}, nil
			}
			return nil, nil
		}}

	var wg sync.WaitGroup
	var mailed atomic.Int64
	for range 64 {
		wg.Go(func() {
			ok, err := ml.MailOne(b.ctx, acc.ID, november)
			if err != nil {
				t.Errorf("mail: %v", err)
				return
			}
			if ok {
				mailed.Add(1)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, mailed.Load(), "one run mails it")
	var raw []byte
	var n int
	require.NoError(t, pool.QueryRow(b.ctx, `SELECT count(*) OVER (), args FROM river_job WHERE kind = 'mail_send'
		AND args->'message'->>'subject' LIKE '%2026-11%' AND args->'message'->'to' ? 'billing@example.com'`).Scan(&n, &raw))
	require.Equal(t, 1, n, "one mail")
	var args struct {
		Message mail.Message `json:"message"`
	}
	require.NoError(t, json.Unmarshal(raw, &args))
	require.Contains(t, args.Message.Subject, "张三的账户")
	require.Contains(t, args.Message.Text, "1,614", "the closing balance")
	require.Len(t, args.Message.Attachments, 2)
	require.Equal(t, "application/pdf", args.Message.Attachments[0].ContentType)

	// The month's run: this account is done; another with activity is mailed
	// (recorded without contacts), and a second run mails nothing.
	other, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "李四"})
	require.NoError(t, err)
	b.at("2026-11-20 00:00:00")
	b.credit(t, other.ID, ledger.LotPromo, "", "10", 0, nil)
	b.at("2026-12-15 04:00:00")
	got, err := ml.MailMonth(b.ctx, november)
	require.NoError(t, err)
	require.GreaterOrEqual(t, got, 1)
	var recorded int
	require.NoError(t, pool.QueryRow(b.ctx, `SELECT count(*) FROM statement_mailings WHERE account_id = ANY ($1) AND month = '2026-11-01'`,
		[]int64{acc.ID, other.ID}).Scan(&recorded))
	require.Equal(t, 2, recorded)
	got, err = ml.MailMonth(b.ctx, november)
	require.NoError(t, err)
	require.Zero(t, got)
}
