package invoicing_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var testNow = time.Date(2025, 6, 1, 2, 0, 0, 0, time.UTC)

// topUps is an in-memory stand-in for payments' paid orders (not our store:
// payments owns those tables and will adapt to TopUpSource).
type topUps struct {
	mu   sync.Mutex
	byAc map[int64][]invoicing.TopUp
}

func (s *topUps) PaidTopUps(_ context.Context, _ db.DBTX, accountID int64) ([]invoicing.TopUp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]invoicing.TopUp(nil), s.byAc[accountID]...), nil
}

func (s *topUps) refund(accountID, orderID, fen int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, t := range s.byAc[accountID] {
		if t.OrderID == orderID {
			s.byAc[accountID][i].RefundedFen += fen
		}
	}
}

type testBundle struct {
	ctx  context.Context
	pool *pgxpool.Pool
	svc  *invoicing.Service
	src  *topUps
}

var seller = invoicing.Seller{
	Name: "北京示例云计算有限公司", TaxID: "91110108MA01ABC125",
	AddressPhone: "北京市海淀区中关村大街 1 号 010-62345678", BankAccount: "中国工商银行北京中关村支行 0200001234567890123",
	Issuer: "王会计", Payee: "李出纳",
}

func setup(t *testing.T, opts invoicing.Options) *testBundle {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	if opts.Seller.Name == "" {
		opts.Seller = seller
	}
	src := &topUps{byAc: map[int64][]invoicing.TopUp{}}
	pool := dbtest.Pool(t)
	return &testBundle{ctx: context.Background(), pool: pool, svc: invoicing.New(pool, src, opts), src: src}
}

var ids atomic.Int64

// account returns a fresh account id with paid top-ups of the given amounts (fen).
func (b *testBundle) account(amounts ...int64) (int64, []invoicing.TopUp) {
	acct := ids.Add(1)
	var tops []invoicing.TopUp
	for _, a := range amounts {
		id := ids.Add(1)
		tops = append(tops, invoicing.TopUp{OrderID: id, OrderNo: fmt.Sprintf("TU-20250601-%04d", id), AmountFen: a, PaidAt: testNow.Add(-time.Hour)})
	}
	b.src.mu.Lock()
	b.src.byAc[acct] = tops
	b.src.mu.Unlock()
	return acct, tops
}

func company() invoicing.TitleInput {
	return invoicing.TitleInput{
		Type: invoicing.TitleCompany, Name: "深圳市星河智能科技有限公司", TaxID: "91310115MA1K12345X",
		Address: "深圳市南山区科技园南区深南大道 10000 号", Phone: "0755-86013388",
		BankName: "招商银行深圳分行科技园支行", BankAccount: "755912345610801",
	}
}

func inputCode(t *testing.T, err error, field string) string {
	t.Helper()
	require.ErrorIs(t, err, fielderr.ErrInvalid)
	ie, ok := fielderr.As(err)
	require.True(t, ok)
	return ie.Code(field)
}

func pdfText(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "invoice.pdf")
	require.NoError(t, os.WriteFile(in, b, 0o600))
	out, err := exec.Command("pdftotext", "-layout", in, "-").CombinedOutput()
	require.NoError(t, err, string(out))
	return string(out) + "\n" + strings.ReplaceAll(string(out), " ", "")
}
