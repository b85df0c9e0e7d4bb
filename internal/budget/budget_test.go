package budget_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/budget"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/jobs"
	"github.com/seed75218f88/credits/internal/webhook"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// A threshold a call crosses is sent once: the budget.threshold webhook to
// the pool's account and a mail to its user in the user's language, both
// queued with the claim; a second Notify sends nothing.
func TestNotifySendsEachThresholdOnce(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	l := ledger.New(pool, ledger.Options{})
	t.Cleanup(l.Close)
	ins, err := jobs.New(pool, nil, jobs.Options{InsertOnly: true})
	require.NoError(t, err)
	hooks := webhook.NewService(pool, ins, webhook.Options{})
	bundle, err := i18n.Default()
	require.NoError(t, err)
	svc := budget.New(pool, l, ins, hooks, bundle, budget.Options{PortalURL: "https://console.example/portal/budgets"})

	acc, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "notify"})
	require.NoError(t, err)
	_, err = l.Credit(ctx, ledger.CreditRequest{AccountID: acc.ID, Kind: ledger.LotPaid, Amount: decimal.NewFromInt(1000), IdempotencyKey: "f"})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO users (email, kind, account_id, locale) VALUES ('notify@example.com', 'customer', $1, 'en')`, acc.ID)
	require.NoError(t, err)
	_, _, err = hooks.CreateEndpoint(ctx, acc.ID, "https://hooks.example.com/credits")
	require.NoError(t, err)

	spec, err := budget.Parse(budget.Input{Project: "search", Period: "day", Amount: "100", Unit: "credits", Thresholds: "50，80", HardStop: true}, acc.ID)
	require.NoError(t, err)
	_, err = svc.Set(ctx, budget.Actor{Kind: backoffice.ActorCustomer, Email: "notify@example.com"}, acc, spec)
	require.NoError(t, err)
	_, err = l.Reserve(ctx, ledger.ReserveRequest{AccountID: acc.ID, Amount: decimal.NewFromInt(85), IdempotencyKey: "r1",
		TTL: time.Hour, Project: "search", Key: "k"})
	require.NoError(t, err)

	n, err := svc.Notify(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n, "50 % and 80 %, crossed by one call")
	n, err = svc.Notify(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	rows, err := pool.Query(ctx, `SELECT args FROM river_job WHERE kind = 'mail_send' ORDER BY id`)
	require.NoError(t, err)
	mails, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	require.NoError(t, err)
	var subjects []string
	for _, m := range mails {
		var a struct {
			Message struct {
				To      []string
				Subject string
				Text    string
			}
		}
		require.NoError(t, json.Unmarshal(m, &a))
		if len(a.Message.To) == 1 && a.Message.To[0] == "notify@example.com" {
			subjects = append(subjects, a.Message.Subject)
			require.Contains(t, a.Message.Text, "project search")
			require.Contains(t, a.Message.Text, "https://console.example/portal/budgets")
		}
	}
	require.ElementsMatch(t, []string{"Budget alert: 50% of the Daily budget used", "Budget alert: 80% of the Daily budget used"}, subjects)

	var events int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM river_job j JOIN webhook_endpoints e ON e.id = (j.args->>'endpoint_id')::bigint
		WHERE j.kind = 'webhook_deliver' AND j.args->>'event_type' = 'budget.threshold' AND e.account_id = $1`, acc.ID).Scan(&events))
	require.Equal(t, 2, events)
}

// Parse names every bad field at once; another customer's account is not
// found.
func TestParseAndScope(t *testing.T) {
	_, err := budget.Parse(budget.Input{Project: "a\x01", Period: "year", Amount: "1.5", Unit: "yuan", Thresholds: "0"}, 1)
	fe, ok := fielderr.As(err)
	require.True(t, ok)
	var fields []string
	for _, f := range fe.Fields {
		fields = append(fields, f.Name+":"+f.Code)
	}
	require.Equal(t, []string{"project:budget_label", "period:budget_period", "thresholds:budget_thresholds"}, fields, "¥1.5 is a valid amount")

	// The amount is read as people type it (format.ParseDecimal): full-width
	// digits are read, an exponent is not an amount (before, "1e2" was 100
	// and "１００" refused).
	typed, err := budget.Parse(budget.Input{Period: "month", Amount: "１００", Unit: "credits"}, 1)
	require.NoError(t, err)
	require.Equal(t, "100", typed.Amount.String())
	_, err = budget.Parse(budget.Input{Period: "month", Amount: "1e2", Unit: "credits"}, 1)
	fe, ok = fielderr.As(err)
	require.True(t, ok)
	require.Equal(t, "budget_amount", fe.Code("amount"))

	ctx := context.Background()
	pool := dbtest.Pool(t)
	l := ledger.New(pool, ledger.Options{})
	t.Cleanup(l.Close)
	svc := budget.New(pool, l, nil, nil, nil, budget.Options{})
	mine, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual})
	require.NoError(t, err)
	theirs, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual})
	require.NoError(t, err)
	spec, err := budget.Parse(budget.Input{Period: "month", Amount: "10", Unit: "credits"}, theirs.ID)
	require.NoError(t, err)
	_, err = svc.Set(ctx, budget.Actor{Kind: backoffice.ActorCustomer}, mine, spec)
	require.ErrorIs(t, err, budget.ErrNotFound)
}
