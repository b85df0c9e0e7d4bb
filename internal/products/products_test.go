package products

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var codeSeq atomic.Int64

// testSpec is a valid product of kind under a code of its own.
func testSpec(kind Kind) Spec {
	s := DemoSpecs()[0]
	for _, d := range DemoSpecs() {
		if d.Kind == kind {
			s = d
		}
	}
	s.Code = fmt.Sprintf("p%d", codeSeq.Add(1))
	return s
}

func TestValidateReportsEveryRule(t *testing.T) {
	t.Parallel()
	for _, s := range DemoSpecs() {
		require.NoError(t, Validate(s), s.Code)
	}
	bad := Spec{Code: "Bad Code", Kind: "gift", PriceFen: 0, Credits: decimal.RequireFromString("-1"), CreditDays: -1,
		JobCount: -1, EntitlementDays: 4000, RefundDays: 400}
	err := Validate(bad)
	require.ErrorIs(t, err, ErrInvalidProduct)
	require.ElementsMatch(t, []string{CodeBadCode, CodeBadName, CodeBadKind, CodeBadPrice, CodeBadCredits, CodeBadCreditDays,
		CodeBadJobs, CodeBadDays, CodeBadRefundDays}, ValidationCodes(err))

	tests := []struct {
		name string
		edit func(*Spec)
		code string
	}{
		{"FeatureWithCredits", func(s *Spec) { s.Kind = Feature; s.JobCount = 0; s.Credits = decimal.NewFromInt(5) }, CodeBadCredits},
		{"PackWithoutCredits", func(s *Spec) { s.Kind = ModelPack; s.JobCount = 0; s.Credits = decimal.Zero }, CodeBadCredits},
		{"CreditsFinerThanTheLedger", func(s *Spec) { s.Credits = decimal.RequireFromString("1.0000001") }, CodeBadCredits},
		{"FineTuneWithoutJobs", func(s *Spec) { s.Kind = FineTune; s.Credits = decimal.Zero; s.CreditDays = 0 }, CodeBadJobs},
		{"CreditDaysOnAFeature", func(s *Spec) { s.Kind = Feature; s.Credits = decimal.Zero }, CodeBadCreditDays},
		{"PriceOverTheCap", func(s *Spec) { s.PriceFen = MaxPriceFen + 1 }, CodeBadPrice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := DemoSpecs()[0] // a model pack
			tc.edit(&s)
			require.Contains(t, ValidationCodes(Validate(s)), tc.code)
		})
	}
}

// TestDraftPublishImmutable: a draft publishes as version 1, a reopened
// draft as version 2 (the first unchanged); a published version refuses
// UPDATE even from the owner; concurrent publishes of one draft publish once.
func TestDraftPublishImmutable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := New(dbtest.AppPool(t), Options{})
	spec := testSpec(ModelPack)
	d, err := svc.CreateDraft(ctx, spec, "ops@example.com")
	require.NoError(t, err)
	_, err = svc.CreateDraft(ctx, spec, "ops@example.com")
	require.ErrorIs(t, err, ErrCodeTaken)
	p1, err := svc.Publish(ctx, d.ID, "ops@example.com")
	require.NoError(t, err)
	require.Equal(t, 1, p1.Version)
	require.True(t, spec.Credits.Equal(p1.Credits))
	require.Equal(t, spec.CreditDays, p1.CreditDays)

	d, err = svc.OpenDraft(ctx, spec.Code, "ops@example.com")
	require.NoError(t, err)
	require.Equal(t, 1, d.BasedOn)
	d2 := d.Spec
	d2.PriceFen = 4_900
	saved, err := svc.SaveDraft(ctx, d.ID, d.Revision, d2, "ops@example.com")
	require.NoError(t, err)
	_, err = svc.SaveDraft(ctx, d.ID, d.Revision, d2, "other@example.com")
	require.ErrorIs(t, err, ErrStaleDraft, "saved meanwhile")
	bad := d2
	bad.PriceFen = 0
	_, err = svc.SaveDraft(ctx, d.ID, saved.Revision, bad, "ops@example.com")
	require.ErrorIs(t, err, ErrInvalidProduct)

	var wg sync.WaitGroup
	var won, already atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.Publish(ctx, d.ID, "ops@example.com")
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, ErrAlreadyPublished):
				already.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int32(1), won.Load())
	require.Equal(t, int32(7), already.Load())
	latest, err := svc.Latest(ctx, spec.Code)
	require.NoError(t, err)
	require.Equal(t, 2, latest.Version)
	require.Equal(t, int64(4_900), latest.PriceFen)
	v1, err := svc.Version(ctx, spec.Code, 1)
	require.NoError(t, err)
	require.Equal(t, int64(spec.PriceFen), v1.PriceFen, "version 1 unchanged")

	_, err = dbtest.Pool(t).Exec(ctx, `UPDATE product_versions SET price_fen = 1 WHERE code = $1`, spec.Code)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Contains(t, pgErr.Message, "append-only")
}

// TestGrantOnceAndRevokeOnce: 64 concurrent grants of one order deliver
// one entitlement (since the payment, until its days later), and revoking
// it twice keeps the first revocation.
func TestGrantOnceAndRevokeOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.AppPool(t)
	svc := New(pool, Options{})
	l := ledger.New(pool, ledger.Options{})
	t.Cleanup(l.Close)
	acc, err := l.CreateAccount(ctx, ledger.AccountSpec{Kind: ledger.AccountIndividual, Name: "buyer"})
	require.NoError(t, err)
	spec := testSpec(FineTune)
	d, err := svc.CreateDraft(ctx, spec, "ops@example.com")
	require.NoError(t, err)
	p, err := svc.Publish(ctx, d.ID, "ops@example.com")
	require.NoError(t, err)

	paid := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	req := GrantRequest{AccountID: acc.ID, ProductCode: p.Code, ProductVersion: p.Version, OrderNo: "T" + p.Code, PaidAt: paid}
	var wg sync.WaitGroup
	ids := make([]int64, 64)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.InTx(ctx, pool, func(tx pgx.Tx) error {
				e, err := svc.GrantTx(ctx, tx, req)
				ids[i] = e.ID
				return err
			})
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id, "every grant answers the one entitlement")
	}
	es, err := svc.Entitlements(ctx, acc.ID)
	require.NoError(t, err)
	require.Len(t, es, 1)
	e := es[0]
	require.Equal(t, paid, e.Since)
	require.Equal(t, paid.AddDate(0, 0, spec.EntitlementDays), *e.Until)
	require.Equal(t, spec.JobCount, *e.JobCount)
	require.True(t, e.Active(paid.Add(time.Hour)))
	require.False(t, e.Active(e.Until.Add(time.Second)), "ended")

	var first Entitlement
	for i := range 2 {
		require.NoError(t, db.InTx(ctx, pool, func(tx pgx.Tx) error {
			r, err := svc.RevokeTx(ctx, tx, req.OrderNo, fmt.Sprintf("refund:%d", i))
			if i == 0 {
				first = r
			}
			require.Equal(t, first.RevokedAt, r.RevokedAt)
			return err
		}))
	}
	got, err := svc.EntitlementOf(ctx, req.OrderNo)
	require.NoError(t, err)
	require.Equal(t, "refund:0", got.RevokeReason, "revoked once")
	require.False(t, got.Active(paid.Add(time.Hour)))
	require.NoError(t, db.InTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := svc.RevokeTx(ctx, tx, "T-none", "x")
		require.ErrorIs(t, err, ErrNotFound)
		return nil
	}))
}
