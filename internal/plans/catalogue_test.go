package plans

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var codeSeq atomic.Int64

// testSpec is a valid plan under a code of its own, so tests run in
// parallel.
func testSpec(t *testing.T) Spec {
	t.Helper()
	s := DemoSpecs()[1]
	s.Code = fmt.Sprintf("t%d", codeSeq.Add(1))
	return s
}

// setup returns the catalogue as the server uses it (the application role).
func setup(t *testing.T) *Service {
	t.Helper()
	return New(dbtest.AppPool(t), Options{})
}

func TestDraftPublishAndCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := setup(t)
	spec := testSpec(t)

	d, err := svc.CreateDraft(ctx, spec, "ops@example.com")
	require.NoError(t, err)
	require.Zero(t, d.BasedOn)
	require.Equal(t, 1, d.Revision)
	_, err = svc.Latest(ctx, spec.Code)
	require.ErrorIs(t, err, ErrNotFound, "a draft is not in the catalogue")

	p, err := svc.Publish(ctx, d.ID, "ops@example.com")
	require.NoError(t, err)
	require.Equal(t, 1, p.Version)
	require.Equal(t, "ops@example.com", p.PublishedBy)
	got, err := svc.Latest(ctx, spec.Code)
	require.NoError(t, err)
	require.Equal(t, p, got, "what Publish returns is what is stored")
	require.Equal(t, spec.NameZH, got.NameZH)
	require.True(t, spec.MonthlyCredits.Equal(got.MonthlyCredits))
	require.Len(t, got.Items, 1)
	require.Equal(t, 1, got.Items[0].No)
	require.Equal(t, []Quota{{Unit: Requests, Window: Rolling(5), Limit: 120}, {Unit: Requests, Window: Week, Limit: 1000}}, got.Items[0].Quotas)
	item, ok := got.Item("deepseek-chat")
	require.True(t, ok)
	require.Equal(t, 1, item.No)
	_, ok = got.Item("qwen-max")
	require.False(t, ok)
	_, err = svc.Draft(ctx, d.ID)
	require.ErrorIs(t, err, ErrNotFound, "publishing consumes the draft")

	// A new code cannot reuse a published one.
	_, err = svc.CreateDraft(ctx, spec, "ops@example.com")
	require.ErrorIs(t, err, ErrCodeTaken)

	// A new draft copies the latest version; saving it bumps the revision
	// and leaves version 1 as it was.
	d2, err := svc.OpenDraft(ctx, spec.Code, "ops@example.com")
	require.NoError(t, err)
	require.Equal(t, 1, d2.BasedOn)
	require.Equal(t, spec.NameEN, d2.Spec.NameEN)
	require.Zero(t, d2.Spec.Items[0].No, "a draft's items are not numbered")
	again, err := svc.OpenDraft(ctx, spec.Code, "someone-else")
	require.NoError(t, err)
	require.Equal(t, d2.ID, again.ID, "one draft per code")

	edit := d2.Spec
	edit.MonthlyPriceFen = 3_900
	edit.Items = append(edit.Items, Item{Group: "qwen", Models: []string{"qwen-plus", "qwen-turbo"},
		Quotas: []Quota{{Unit: Tokens, Window: Day, Limit: 1_000_000}, {Unit: Requests, Window: PerPeriod, Limit: Unlimited}}})
	saved, err := svc.SaveDraft(ctx, d2.ID, d2.Revision, edit, "ops@example.com")
	require.NoError(t, err)
	require.Equal(t, 2, saved.Revision)
	_, err = svc.SaveDraft(ctx, d2.ID, d2.Revision, edit, "ops@example.com")
	require.ErrorIs(t, err, ErrStaleDraft, "a save over a newer revision is refused")
	renamed := edit
	renamed.Code = "other"
	_, err = svc.SaveDraft(ctx, d2.ID, saved.Revision, renamed, "ops@example.com")
	require.ErrorIs(t, err, ErrInvalidPlan, "the code cannot change")

	p2, err := svc.Publish(ctx, d2.ID, "ops@example.com")
	require.NoError(t, err)
	require.Equal(t, 2, p2.Version)
	require.Equal(t, int64(3_900), p2.MonthlyPriceFen)
	require.Len(t, p2.Items, 2)
	require.Equal(t, []string{"qwen-plus", "qwen-turbo"}, p2.Items[1].Models)
	v1, err := svc.Version(ctx, spec.Code, 1)
	require.NoError(t, err)
	require.Equal(t, p, v1, "version 1 is unchanged")
	versions, err := svc.Versions(ctx, spec.Code)
	require.NoError(t, err)
	require.Len(t, versions, 2)
	_, err = svc.Version(ctx, spec.Code, 3)
	require.ErrorIs(t, err, ErrNotFound)

	// Publishing the same draft again answers with the version it made.
	p3, err := svc.Publish(ctx, d2.ID, "ops@example.com")
	require.ErrorIs(t, err, ErrAlreadyPublished)
	require.Equal(t, 2, p3.Version)

	// A discarded draft is gone; a missing code has nothing to copy.
	d3, err := svc.OpenDraft(ctx, spec.Code, "ops@example.com")
	require.NoError(t, err)
	require.Equal(t, 2, d3.BasedOn)
	require.NoError(t, svc.DiscardDraft(ctx, d3.ID))
	_, err = svc.Publish(ctx, d3.ID, "ops@example.com")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = svc.OpenDraft(ctx, "no-such-plan", "ops@example.com")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestPublishedVersionsAreImmutable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := setup(t)
	spec := testSpec(t)
	d, err := svc.CreateDraft(ctx, spec, "ops@example.com")
	require.NoError(t, err)
	_, err = svc.Publish(ctx, d.ID, "ops@example.com")
	require.NoError(t, err)

	// Not even the owner (a superuser here) may change a published row:
	// the trigger refuses.
	owner := dbtest.Pool(t)
	refused := func(sql string, args ...any) {
		t.Helper()
		_, err := owner.Exec(ctx, sql, args...)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "%s: %v", sql, err)
		require.Equal(t, "42501", pgErr.Code, "%s: %v", sql, err)
	}
	refused(`UPDATE plan_versions SET monthly_price_fen = 1 WHERE code = $1`, spec.Code)
	refused(`DELETE FROM plan_versions WHERE code = $1`, spec.Code)
	refused(`UPDATE plan_version_quotas SET quota_limit = 1000000 WHERE code = $1`, spec.Code)
	refused(`DELETE FROM plan_version_quotas WHERE code = $1`, spec.Code)
	refused(`UPDATE plan_version_items SET group_name = 'x' WHERE code = $1`, spec.Code)
	refused(`DELETE FROM plan_version_item_models WHERE code = $1`, spec.Code)
	refused(`TRUNCATE plan_version_quotas`)
	// Nor gain an item or a quota after publishing.
	refused(`INSERT INTO plan_version_items (code, version, item_no) VALUES ($1, 1, 9)`, spec.Code)
	refused(`INSERT INTO plan_version_quotas (code, version, item_no, quota_no, unit, window_kind, window_hours, quota_limit)
             VALUES ($1, 1, 1, 9, 'tokens', 'day', 0, 5)`, spec.Code)
	refused(`INSERT INTO plan_version_item_models (code, version, item_no, model) VALUES ($1, 1, 1, 'qwen-max')`, spec.Code)

	// The application role has no UPDATE or DELETE at all.
	app := dbtest.AppPool(t)
	_, err = app.Exec(ctx, `UPDATE plan_versions SET name_en = 'x' WHERE code = $1`, spec.Code)
	require.Error(t, err)

	got, err := svc.Latest(ctx, spec.Code)
	require.NoError(t, err)
	require.Equal(t, spec.MonthlyPriceFen, got.MonthlyPriceFen)
	require.Len(t, got.Items[0].Quotas, 2)
}

func TestConcurrentPublishesPublishOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := setup(t)
	spec := testSpec(t)
	d, err := svc.CreateDraft(ctx, spec, "ops@example.com")
	require.NoError(t, err)

	const n = 64
	var wg sync.WaitGroup
	var published, repeats atomic.Int64
	versions := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			p, err := svc.Publish(ctx, d.ID, fmt.Sprintf("staff-%d", i))
			switch {
			case err == nil:
				published.Add(1)
			case errors.Is(err, ErrAlreadyPublished):
				repeats.Add(1)
			default:
				errs[i] = err
			}
			versions[i] = p.Version
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), published.Load(), "one request publishes")
	require.Equal(t, int64(n-1), repeats.Load(), "the others are told it was published")
	for _, v := range versions {
		require.Equal(t, 1, v, "everyone sees the one version")
	}
	all, err := svc.Versions(ctx, spec.Code)
	require.NoError(t, err)
	require.Len(t, all, 1)
}

func TestConcurrentOpenDraftMakesOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := setup(t)
	spec := testSpec(t)
	d, err := svc.CreateDraft(ctx, spec, "ops@example.com")
	require.NoError(t, err)
	_, err = svc.Publish(ctx, d.ID, "ops@example.com")
	require.NoError(t, err)

	const n = 64
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dr, err := svc.OpenDraft(ctx, spec.Code, "ops@example.com")
			ids[i], errs[i] = dr.ID, err
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, ids[0], ids[i])
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := DemoSpecs()[3]
	require.NoError(t, Validate(ok))
	cases := []struct {
		code   string
		mutate func(s *Spec)
	}{
		{CodeBadCode, func(s *Spec) { s.Code = "Basic" }},
		{CodeBadName, func(s *Spec) { s.NameZH = "" }},
		{CodeBadTier, func(s *Spec) { s.Tier = -1 }},
		{CodeBadPrice, func(s *Spec) { s.YearlyPriceFen = -1 }},
		{CodeBadCredits, func(s *Spec) { s.MonthlyCredits = dec("0.0000001") }},
		{CodeBadCredits, func(s *Spec) { s.MonthlyCredits = dec("-1") }},
		{CodeBadRate, func(s *Spec) { s.TPM = -1 }},
		{CodeBadFeature, func(s *Spec) { s.Features = []Feature{{ZH: "只有中文"}} }},
		{CodeNoModels, func(s *Spec) { s.Items[1].Models = nil }},
		{CodeBadGroup, func(s *Spec) { s.Items[0].Group = "" }},
		{CodeDuplicateModel, func(s *Spec) { s.Items[1].Models = []string{"deepseek-chat"} }},
		{CodeNoQuotas, func(s *Spec) { s.Items[1].Quotas = nil }},
		{CodeBadUnit, func(s *Spec) { s.Items[1].Quotas[0].Unit = "calls" }},
		{CodeBadWindow, func(s *Spec) { s.Items[1].Quotas[0].Window = Rolling(0) }},
		{CodeBadWindow, func(s *Spec) { s.Items[1].Quotas[0].Window = Window{Kind: WindowDay, Hours: 5} }},
		{CodeBadWindow, func(s *Spec) { s.Items[1].Quotas[0].Window = Window{Kind: "month"} }},
		{CodeBadLimit, func(s *Spec) { s.Items[1].Quotas[0].Limit = 0 }},
		{CodeBadLimit, func(s *Spec) { s.Items[1].Quotas[0].Limit = -2 }},
		{CodeDuplicateQuota, func(s *Spec) {
			s.Items[1].Quotas = append(s.Items[1].Quotas, Quota{Unit: Requests, Window: Week, Limit: 5})
		}},
	}
	for _, c := range cases {
		s := DemoSpecs()[3]
		c.mutate(&s)
		err := Validate(s)
		require.ErrorIs(t, err, ErrInvalidPlan, c.code)
		var ve *ValidationError
		require.True(t, errors.As(err, &ve))
		require.Equal(t, c.code, ve.Code)
	}
	// The database agrees: a spec Validate refuses is refused by a save too.
	svc := setup(t)
	bad := testSpec(t)
	bad.Items[0].Quotas[0].Limit = 0
	_, err := svc.CreateDraft(context.Background(), bad, "ops@example.com")
	require.ErrorIs(t, err, ErrInvalidPlan)
}

func TestEnsureDemoIsIdempotent(t *testing.T) {
	// Not parallel with itself: it owns the demo codes.
	ctx := context.Background()
	svc := setup(t)
	n, err := svc.EnsureDemo(ctx, "seed")
	require.NoError(t, err)
	require.Equal(t, 4, n)
	n, err = svc.EnsureDemo(ctx, "seed")
	require.NoError(t, err)
	require.Zero(t, n)
	cat, err := svc.Catalogue(ctx)
	require.NoError(t, err)
	var tiers []int
	for _, p := range cat {
		if p.PublishedBy == "seed" {
			tiers = append(tiers, p.Tier)
			require.Equal(t, 1, p.Version)
		}
	}
	require.Equal(t, []int{0, 1, 2, 3}, tiers)
	basic, err := svc.Latest(ctx, "basic")
	require.NoError(t, err)
	item, ok := basic.Item("deepseek-chat")
	require.True(t, ok)
	require.Equal(t, Quota{Unit: Requests, Window: Rolling(5), Limit: 120}, item.Quotas[0])
	require.Equal(t, Quota{Unit: Requests, Window: Week, Limit: 1000}, item.Quotas[1])
}
