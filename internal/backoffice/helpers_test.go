package backoffice_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/costs"
	"github.com/seed75218f88/credits/internal/creditline"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/plans"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/pricing"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// clock is a movable test clock shared by the ledger and the back office.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type testBundle struct {
	ctx    context.Context
	pool   *pgxPool
	l      *ledger.Ledger
	users  *auth.Service
	svc    *backoffice.Service
	clock  *clock
	orders *transferOrders
	lines  *creditline.Service // with setupOpts.creditLines
	owner  *pgxPool            // with setupOpts.owner
}

type pgxPool = pgxpool.Pool

// setupOpts tunes setup.
type setupOpts struct {
	start    time.Time
	settings backoffice.Settings
	channel  backoffice.ChannelOrders
	// plans: the back office comps plans through real subscriptions.
	plans bool
	// pricing: admins set account rate cards (the default card published).
	pricing bool
	// own: a database of the test's own (a report over the whole ledger).
	own bool
	// costs: the margin report (cost cards) is wired.
	costs bool
	// creditLines: finance grants credit lines (internal/creditline).
	creditLines bool
	// owner: a database of the test's own with its owner role's pool
	// (testBundle.owner), which archives months of ledger events.
	owner bool
}

func setup(t *testing.T, o setupOpts) *testBundle {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	var owner *pgxPool
	switch {
	case o.owner:
		owner, pool, _ = dbtest.OwnRoles(t)
	case o.own:
		pool, _ = dbtest.Own(t)
	}
	if o.start.IsZero() {
		o.start = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	}
	c := &clock{t: o.start}
	l := ledger.New(pool, ledger.Options{Now: c.Now})
	t.Cleanup(l.Close)
	users := auth.New(pool, auth.Options{Now: c.Now, Argon2: auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	orders := newTransferOrders(t, pool, owner, l)
	bopts := backoffice.Options{
		Now: c.Now, Settings: o.settings, TransferOrders: orders, Orders: orders, ChannelOrders: o.channel,
		Refunder: &ledgerRefunder{l: l},
	}
	if o.plans {
		subs := plans.NewSubscriptions(pool, l, plans.Options{Now: c.Now})
		bopts.Plans, bopts.PlanStats = subs, subs
	}
	if o.costs {
		bopts.Costs = costs.New(pool)
	}
	if o.creditLines {
		bopts.CreditLines = creditline.New(pool, l, creditline.Options{Now: c.Now})
	}
	if o.pricing {
		bopts.Pricing = pricing.New(pool)
		_, err := bopts.Pricing.EnsureDefault(ctx, "test", pricing.DefaultCreditPriceRMB)
		require.NoError(t, err)
	}
	svc := backoffice.New(pool, l, users, bopts)
	return &testBundle{ctx: ctx, pool: pool, l: l, users: users, svc: svc, clock: c, orders: orders, lines: bopts.CreditLines, owner: owner}
}

var seq atomic.Int64

func uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, seq.Add(1)) }

// staff creates an enabled staff user holding roles and returns them as an actor.
func (b *testBundle) staff(t *testing.T, roles ...auth.Role) backoffice.Actor {
	t.Helper()
	u, err := b.users.CreateStaff(b.ctx, auth.StaffRequest{Email: uniq("staff") + "@example.com", Password: "correct horse battery", Name: "Staff", Roles: roles})
	require.NoError(t, err)
	return backoffice.Actor{User: u, IP: "192.0.2.10"}
}

// customer is a ledger account with a customer user.
type customer struct {
	account ledger.Account
	user    auth.User
}

func (b *testBundle) customer(t *testing.T) customer {
	t.Helper()
	acc, err := b.l.CreateAccount(b.ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: t.Name()})
	require.NoError(t, err)
	var u auth.User
	err = db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
		u, err = b.users.RegisterTx(b.ctx, tx, auth.RegisterRequest{Login: uniq("cust") + "@example.com", Password: "correct horse battery", AccountID: acc.ID})
		return err
	})
	require.NoError(t, err)
	return customer{account: acc, user: u}
}

func (b *testBundle) credit(t *testing.T, acc int64, kind ledger.LotKind, amount string, expires *time.Time) ledger.Lot {
	t.Helper()
	r, err := b.l.Credit(b.ctx, ledger.CreditRequest{AccountID: acc, Kind: kind, Amount: d(amount), ExpiresAt: expires, IdempotencyKey: uniq("k"), Actor: "test"})
	require.NoError(t, err)
	return r.Lot
}

func (b *testBundle) balance(t *testing.T, acc int64) ledger.Balance {
	t.Helper()
	bal, err := b.l.Balance(b.ctx, acc)
	require.NoError(t, err)
	return bal
}

// auditFor returns the account's audit rows, newest first.
func (b *testBundle) auditFor(t *testing.T, f backoffice.AuditFilter) []backoffice.AuditRow {
	t.Helper()
	rows, _, err := b.svc.AuditLog(b.ctx, f, 0, 1000)
	require.NoError(t, err)
	return rows
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func requireDec(t *testing.T, want string, got decimal.Decimal, msg ...any) {
	t.Helper()
	require.Truef(t, d(want).Equal(got), "want %s, got %s %v", want, got, msg)
}

func requireNullDec(t *testing.T, want string, got decimal.NullDecimal, msg ...any) {
	t.Helper()
	require.True(t, got.Valid, "want %s, got NULL %v", want, msg)
	requireDec(t, want, got.Decimal, msg...)
}

// transferOrders stands in for payments' bank-transfer orders: a tiny table
// of this test package, completed through the real ledger.
type transferOrders struct {
	l    *ledger.Ledger
	pool *pgxPool
}

var createOrdersOnce sync.Once

// newTransferOrders creates the tables once in the shared database, or in
// a database of the test's own through its owner (the application role
// may not create tables).
func newTransferOrders(t *testing.T, pool, owner *pgxPool, l *ledger.Ledger) *transferOrders {
	if owner != nil {
		_, err := owner.Exec(context.Background(), createTestOrders)
		require.NoError(t, err)
		return &transferOrders{l: l, pool: pool}
	}
	createOrdersOnce.Do(func() {
		_, err := pool.Exec(context.Background(), createTestOrders)
		require.NoError(t, err)
	})
	return &transferOrders{l: l, pool: pool}
}

const createTestOrders = `
CREATE TABLE IF NOT EXISTS test_transfer_orders (
    order_no       TEXT PRIMARY KEY,
    code           TEXT NOT NULL UNIQUE,
    account_id     BIGINT NOT NULL,
    amount         NUMERIC(14, 2) NOT NULL,
    verified_payer TEXT NOT NULL DEFAULT '',
    paid_at        TIMESTAMPTZ,
    statement_ref  TEXT
);
CREATE TABLE IF NOT EXISTS test_line_orders (
    line_id    BIGINT PRIMARY KEY,
    account_id BIGINT NOT NULL,
    lot_id     BIGINT NOT NULL,
    amount     NUMERIC(14, 2) NOT NULL
)`

func (o *transferOrders) add(t *testing.T, pool *pgxPool, accountID int64, code, amount, payer string) string {
	t.Helper()
	no := uniq("TO")
	_, err := pool.Exec(context.Background(), `INSERT INTO test_transfer_orders (order_no, code, account_id, amount, verified_payer) VALUES ($1, $2, $3, $4, $5)`,
		no, code, accountID, amount, payer)
	require.NoError(t, err)
	return no
}

func (o *transferOrders) OpenOrderByCode(ctx context.Context, tx db.DBTX, code string) (backoffice.TransferOrder, bool, error) {
	var out backoffice.TransferOrder
	err := tx.QueryRow(ctx, `SELECT order_no, code, amount, verified_payer, paid_at IS NOT NULL, account_id FROM test_transfer_orders WHERE code = $1`, code).
		Scan(&out.OrderNo, &out.Code, &out.Amount, &out.VerifiedPayer, &out.Paid, &out.AccountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, false, nil
	}
	return out, err == nil, err
}

func (o *transferOrders) CompleteTx(ctx context.Context, tx pgx.Tx, orderNo, statementRef, actor string) error {
	var acc int64
	var amount decimal.Decimal
	err := tx.QueryRow(ctx, `UPDATE test_transfer_orders SET paid_at = now(), statement_ref = $2 WHERE order_no = $1 AND paid_at IS NULL
RETURNING account_id, amount`, orderNo, statementRef).Scan(&acc, &amount)
	if err != nil {
		return fmt.Errorf("order %s not open: %w", orderNo, err)
	}
	credits, err := ledger.CreditsForRMB(amount, ledger.DefaultCreditPriceRMB)
	if err != nil {
		return err
	}
	_, err = o.l.CreditTx(ctx, tx, ledger.CreditRequest{AccountID: acc, Kind: ledger.LotPaid, Amount: credits,
		SourceRef: orderNo, Actor: actor, IdempotencyKey: "order:" + orderNo})
	return err
}

// RecordLineTx records the line's order in a test table on tx; a second
// record of one line fails, as the primary key says.
func (o *transferOrders) RecordLineTx(ctx context.Context, tx pgx.Tx, p backoffice.LinePayment) (string, error) {
	_, err := tx.Exec(ctx, `INSERT INTO test_line_orders (line_id, account_id, lot_id, amount) VALUES ($1, $2, $3, $4)`,
		p.Line.ID, p.AccountID, p.Lot.ID, p.Line.Amount)
	return fmt.Sprintf("LO%d", p.Line.ID), err
}

// lineOrder returns what RecordLineTx recorded for a line (ok false: nothing).
func (b *testBundle) lineOrder(t *testing.T, lineID int64) (accountID, lotID int64, amount decimal.Decimal, ok bool) {
	t.Helper()
	err := b.pool.QueryRow(b.ctx, `SELECT account_id, lot_id, amount FROM test_line_orders WHERE line_id = $1`, lineID).Scan(&accountID, &lotID, &amount)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, amount, false
	}
	require.NoError(t, err)
	return accountID, lotID, amount, true
}

// VerifiedPayerOf is the verified payer the account's orders were added
// with ("" when none).
func (o *transferOrders) VerifiedPayerOf(ctx context.Context, accountID int64) (string, error) {
	var payer string
	err := o.pool.QueryRow(ctx, `SELECT coalesce(max(verified_payer), '') FROM test_transfer_orders WHERE account_id = $1`, accountID).Scan(&payer)
	return payer, err
}

func (o *transferOrders) OpenOrdersOf(ctx context.Context, accountID int64) ([]backoffice.TransferOrder, error) {
	rows, err := o.pool.Query(ctx, `SELECT order_no, code, amount, account_id FROM test_transfer_orders
WHERE account_id = $1 AND paid_at IS NULL ORDER BY order_no DESC`, accountID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (backoffice.TransferOrder, error) {
		var out backoffice.TransferOrder
		err := r.Scan(&out.OrderNo, &out.Code, &out.Amount, &out.AccountID)
		return out, err
	})
}

func (o *transferOrders) AccountByOrderNo(ctx context.Context, orderNo string) (int64, bool, error) {
	return 0, false, nil
}

// ledgerRefunder stands in for payments' refunds: it refunds the paid lots
// through the real ledger, oldest first.
type ledgerRefunder struct{ l *ledger.Ledger }

func (r *ledgerRefunder) StartRefundTx(ctx context.Context, tx pgx.Tx, req backoffice.RefundRequest) (string, error) {
	credits, err := ledger.CreditsForRMB(req.Amount, ledger.DefaultCreditPriceRMB)
	if err != nil {
		return "", err
	}
	lots, err := r.l.Lots(ctx, req.AccountID)
	if err != nil {
		return "", err
	}
	ref := fmt.Sprintf("RF%d", req.ID)
	for _, lot := range lots {
		if lot.Kind != ledger.LotPaid || !lot.Remaining.IsPositive() || !credits.IsPositive() {
			continue
		}
		take := decimal.Min(lot.Remaining, credits)
		if _, err := r.l.RefundTx(ctx, tx, ledger.RefundRequest{LotID: lot.ID, Amount: take, IdempotencyKey: ref + ":" + fmt.Sprint(lot.ID),
			Actor: "test", SourceRef: ref}); err != nil {
			return "", err
		}
		credits = credits.Sub(take)
	}
	if credits.IsPositive() {
		return "", errors.New("not enough paid credit")
	}
	return ref, nil
}

// statementCSV builds a bank statement CSV (the CCB layout) from rows of
// serial, time, payer, amount, direction, memo.
func statementCSV(rows ...[]string) string {
	var b strings.Builder
	b.WriteString("交易流水号,交易时间,对方账户名称,对方账号,交易金额,借贷标志,用途\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,%s,%s,6222000011112222,%s,%s,%s\n", r[0], r[1], r[2], r[3], r[4], r[5])
	}
	return b.String()
}
