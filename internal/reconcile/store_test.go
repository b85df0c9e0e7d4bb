package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type testBundle struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	lines []StatementLine
}

// setup parses the ICBC fixture and gives it a bank account of its own, so
// tests can run in parallel on one database.
func setup(t *testing.T) testBundle {
	t.Helper()
	lines, err := parseFile(t, "icbc_gbk.csv")
	require.NoError(t, err)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	account := "TEST" + hex.EncodeToString(b)
	for i := range lines {
		lines[i].BankAccount = account
	}
	return testBundle{ctx: context.Background(), pool: dbtest.Pool(t), lines: lines}
}

func TestImportLines(t *testing.T) {
	t.Parallel()

	t.Run("ReimportAddsNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inserted, dups, err := ImportLines(b.ctx, b.pool, b.lines)
		require.NoError(t, err)
		require.Equal(t, 6, inserted)
		require.Equal(t, 0, dups)

		inserted, dups, err = ImportLines(b.ctx, b.pool, b.lines)
		require.NoError(t, err)
		require.Equal(t, 0, inserted)
		require.Equal(t, 6, dups)

		all, err := ListLines(b.ctx, b.pool, LineFilter{BankAccount: b.lines[0].BankAccount})
		require.NoError(t, err)
		require.Len(t, all, 6)

		queue, err := ListLines(b.ctx, b.pool, LineFilter{BankAccount: b.lines[0].BankAccount, Status: StatusUnmatched})
		require.NoError(t, err)
		require.Len(t, queue, 5, "every credit line waits in the queue; the debit does not")

		ignored, err := ListLines(b.ctx, b.pool, LineFilter{BankAccount: b.lines[0].BankAccount, Status: StatusIgnored})
		require.NoError(t, err)
		require.Len(t, ignored, 1)
		require.Equal(t, Debit, ignored[0].Direction)
	})

	t.Run("StoredLineKeepsWhatWasImported", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, _, err := ImportLines(b.ctx, b.pool, b.lines[:1])
		require.NoError(t, err)
		got, err := ListLines(b.ctx, b.pool, LineFilter{BankAccount: b.lines[0].BankAccount})
		require.NoError(t, err)
		require.Len(t, got, 1)
		l := got[0]
		require.Equal(t, "ICBC2024030500001", l.Serial)
		require.True(t, beijing("2024-03-05 09:15:02").Equal(l.TradedAt))
		require.True(t, dec("1000.00").Equal(l.Amount))
		require.Equal(t, "北京甲公司", l.PayerName)
		require.Equal(t, "icbc_gbk.csv", l.SourceFile)
		require.Equal(t, 7, l.SourceRow)
		require.Equal(t, StatusUnmatched, l.Status)
		require.Equal(t, b.lines[0].Memo, l.Line().Memo)

		var raw string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT raw->>'对方户名' FROM bank_statement_lines WHERE id = $1`, l.ID).Scan(&raw))
		require.Equal(t, "北京甲公司", raw)

		bySearch, err := ListLines(b.ctx, b.pool, LineFilter{BankAccount: b.lines[0].BankAccount, Search: "甲公司"})
		require.NoError(t, err)
		require.Len(t, bySearch, 1)
	})

	t.Run("ConcurrentImportsInsertOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var wg sync.WaitGroup
		counts := make([]int, 4)
		errs := make([]error, 4)
		for i := range counts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				counts[i], _, errs[i] = ImportLines(b.ctx, b.pool, b.lines)
			}()
		}
		wg.Wait()
		total := 0
		for i := range counts {
			require.NoError(t, errs[i])
			total += counts[i]
		}
		require.Equal(t, 6, total, "four finance users importing one file at once store it once")
	})

	t.Run("SameSerialOnAnotherAccountIsAnotherLine", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		other := setup(t)
		n1, _, err := ImportLines(b.ctx, b.pool, b.lines[:1])
		require.NoError(t, err)
		n2, _, err := ImportLines(b.ctx, b.pool, other.lines[:1])
		require.NoError(t, err)
		require.Equal(t, 1, n1)
		require.Equal(t, 1, n2)
	})

	t.Run("AllOrNothingInATransaction", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		lines := append([]StatementLine(nil), b.lines...)
		lines[3].BankAccount = ""
		err := db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
			_, _, err := ImportLines(b.ctx, tx, lines)
			return err
		})
		require.ErrorIs(t, err, ErrNoBankAccount)
		all, err := ListLines(b.ctx, b.pool, LineFilter{BankAccount: b.lines[0].BankAccount})
		require.NoError(t, err)
		require.Empty(t, all)
	})
}

func TestRecordMatchAndResolve(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, _, err := ImportLines(b.ctx, b.pool, b.lines)
	require.NoError(t, err)
	stored, err := ListLines(b.ctx, b.pool, LineFilter{BankAccount: b.lines[0].BankAccount, Status: StatusUnmatched})
	require.NoError(t, err)
	bySerial := map[string]StoredLine{}
	for _, l := range stored {
		bySerial[l.Serial] = l
	}
	// Order numbers are global: give this run's orders their own.
	orders := transferOrders()
	for code, o := range orders {
		o.OrderNo = b.lines[0].BankAccount + "-" + o.OrderNo
		orders[code] = o
	}
	t1 := orders[codeT1].OrderNo
	lookup := lookupIn(orders)

	// The matcher runs over the queue, inside the caller's transaction.
	for _, l := range stored {
		res := MatchTransfer(l.Line(), lookup)
		require.NoError(t, db.InTx(b.ctx, b.pool, func(tx pgx.Tx) error {
			return RecordMatch(b.ctx, tx, l.ID, res)
		}))
	}
	matched, err := GetLine(b.ctx, b.pool, bySerial["ICBC2024030500001"].ID)
	require.NoError(t, err)
	require.Equal(t, StatusMatched, matched.Status)
	require.Equal(t, t1, *matched.OrderNo)
	require.Equal(t, codeT1, matched.ReferenceCode)

	queue, err := ListLines(b.ctx, b.pool, LineFilter{BankAccount: b.lines[0].BankAccount, Status: StatusUnmatched})
	require.NoError(t, err)
	require.Len(t, queue, 4)
	reasons := map[Reason]bool{}
	for _, l := range queue {
		reasons[l.MatchReason] = true
	}
	require.Equal(t, map[Reason]bool{ReasonPayerDiffers: true, ReasonAmountDiffers: true, ReasonBadCheck: true, ReasonNoCode: true}, reasons)

	t.Run("MatchedLineLeavesTheQueue", func(t *testing.T) {
		err := RecordMatch(b.ctx, b.pool, matched.ID, MatchResult{Reason: ReasonMatched, Order: OpenOrder{OrderNo: t1}})
		require.ErrorIs(t, err, ErrLineNotOpen)
	})

	t.Run("AnOrderIsPaidByOneLineOnly", func(t *testing.T) {
		second := bySerial["ICBC2024030600002"]
		err := RecordMatch(b.ctx, b.pool, second.ID, MatchResult{Reason: ReasonMatched, Order: OpenOrder{OrderNo: t1}})
		require.ErrorIs(t, err, ErrOrderAlreadyMatched)
		l, err := GetLine(b.ctx, b.pool, second.ID)
		require.NoError(t, err)
		require.Equal(t, StatusUnmatched, l.Status)
	})

	t.Run("FinanceResolvesToAnAccount", func(t *testing.T) {
		id := bySerial["ICBC2024030600002"].ID
		now := time.Date(2024, 3, 7, 2, 0, 0, 0, time.UTC)
		err := ResolveLine(b.ctx, b.pool, id, Resolution{Status: StatusResolved, AccountID: "acct-42", OrderNo: "T2",
			Ref: "recharge-9", Note: "branch office of the verified company", By: "finance-1"}, now)
		require.NoError(t, err)
		l, err := GetLine(b.ctx, b.pool, id)
		require.NoError(t, err)
		require.Equal(t, StatusResolved, l.Status)
		require.Equal(t, "acct-42", *l.ResolvedAccountID)
		require.Equal(t, "finance-1", *l.ResolvedBy)
		require.True(t, now.Equal(*l.ResolvedAt))

		err = ResolveLine(b.ctx, b.pool, id, Resolution{Status: StatusRejected, Note: "again", By: "finance-2"}, now)
		require.ErrorIs(t, err, ErrLineNotOpen, "a resolved line cannot be resolved twice")
	})

	t.Run("RejectAndRefundNeedAReason", func(t *testing.T) {
		id := bySerial["ICBC2024030800004"].ID
		err := ResolveLine(b.ctx, b.pool, id, Resolution{Status: StatusRejected, By: "finance-1"}, time.Now())
		require.ErrorIs(t, err, ErrInvalidResolution)
		err = ResolveLine(b.ctx, b.pool, id, Resolution{Status: StatusResolved, Note: "x", By: "finance-1"}, time.Now())
		require.ErrorIs(t, err, ErrInvalidResolution, "resolving needs an account")
		err = ResolveLine(b.ctx, b.pool, id, Resolution{Status: StatusRefundToPayer, Note: "unknown payer", By: "finance-1"}, time.Now())
		require.NoError(t, err)
	})

	t.Run("UnknownLine", func(t *testing.T) {
		_, err := GetLine(b.ctx, b.pool, -1)
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorIs(t, RecordMatch(b.ctx, b.pool, -1, MatchResult{Reason: ReasonNoCode}), ErrNotFound)
	})
}
