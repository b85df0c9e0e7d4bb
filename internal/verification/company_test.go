package verification_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/verification"
)

// creditCodeSeq returns a fresh valid credit code whose sandbox answer is
// set by its digits 14–16 (998: manual review).
func creditCodeSeq(t *testing.T, s int) string {
	t.Helper()
	c, err := identity.BuildCreditCode(fmt.Sprintf("91110108MA%03d%03d%d", seq.Add(1)%1000, s, 1))
	require.NoError(t, err)
	return c
}

// TestVerifiedCompanyName: only an account verified as an enterprise has a
// company name for statement matching; a person, a pending company and an
// externally verified account have none.
func TestVerifiedCompanyName(t *testing.T) {
	t.Parallel()
	b := setup(t, verification.Options{})

	company := b.account(t)
	st, err := b.svc.SubmitCompany(b.ctx, company, " 杭州乙有限公司 ", creditCode(t), "王五", pngFile, "licence.png")
	require.NoError(t, err)
	require.Equal(t, verification.StateVerified, st.State)
	name, ok, err := b.svc.VerifiedCompanyName(b.ctx, company)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "杭州乙有限公司", name)

	person := b.account(t)
	_, err = b.svc.SubmitPerson(b.ctx, person, "张三", personNumber(t))
	require.NoError(t, err)
	pending := b.account(t)
	_, err = b.svc.SubmitCompany(b.ctx, pending, "待审核有限公司", creditCodeSeq(t, 998), "李四", pngFile, "licence.png")
	require.NoError(t, err)
	external := b.account(t)
	_, err = b.svc.MarkVerifiedExternally(b.ctx, external, "KYC-1", "api:c1")
	require.NoError(t, err)
	for who, acct := range map[string]int64{"person": person, "pending": pending, "external": external, "unverified": b.account(t)} {
		name, ok, err := b.svc.VerifiedCompanyName(b.ctx, acct)
		require.NoError(t, err, who)
		require.False(t, ok, who)
		require.Empty(t, name, who)
	}
}
