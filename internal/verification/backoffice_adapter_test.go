package verification_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/verification"
)

// Finance finds the customer behind a bank transfer by the paying company's
// name: only verified companies are searched, the exact name first, and the
// identity shown next to a hit is masked.
func TestBackOfficeFindsVerifiedCompaniesByName(t *testing.T) {
	t.Parallel()
	b := setup(t, verification.Options{})
	bo := b.svc.BackOffice()
	suffix := creditCode(t)[10:16] // names no other test uses

	longer := b.account(t)
	_, err := b.svc.SubmitCompany(b.ctx, longer, "南京"+suffix+"网络有限公司分公司", creditCode(t), "王五", pngFile, "licence.png")
	require.NoError(t, err)
	exact := b.account(t)
	_, err = b.svc.SubmitCompany(b.ctx, exact, "南京"+suffix+"网络有限公司", creditCode(t), "王五", pngFile, "licence.png")
	require.NoError(t, err)
	pending := b.account(t)
	_, err = b.svc.SubmitCompany(b.ctx, pending, "南京"+suffix+"网络有限公司", creditCodeSeq(t, 998), "李四", pngFile, "licence.png")
	require.NoError(t, err)
	person := b.account(t)
	personID := personNumber(t)
	_, err = b.svc.SubmitPerson(b.ctx, person, "张三", personID)
	require.NoError(t, err)

	ids, err := bo.AccountsByCompanyName(b.ctx, " 南京"+suffix+"网络有限公司 ", 10)
	require.NoError(t, err)
	require.Equal(t, []int64{exact, longer}, ids, "the exact name first; a pending company is not searched")
	ids, err = bo.AccountsByCompanyName(b.ctx, suffix+"网络", 1)
	require.NoError(t, err)
	require.Len(t, ids, 1, "at most limit")
	ids, err = bo.AccountsByCompanyName(b.ctx, "%", 10)
	require.NoError(t, err)
	require.Empty(t, ids, "a wildcard matches only itself")
	ids, err = bo.AccountsByCompanyName(b.ctx, "张", 10)
	require.NoError(t, err)
	require.NotContains(t, ids, person, "a person's name is never searched")

	id, err := bo.IdentityOf(b.ctx, exact)
	require.NoError(t, err)
	require.Equal(t, "verified", id.State)
	require.Equal(t, "enterprise", id.Subject)
	require.Equal(t, "南京"+suffix+"网络有限公司", id.Name, "a company name is public")
	require.Contains(t, id.MaskedNumber, "*")
	id, err = bo.IdentityOf(b.ctx, person)
	require.NoError(t, err)
	require.Equal(t, "individual", id.Subject)
	require.Equal(t, "张*", id.Name)
	require.Equal(t, personID[:3]+"***********"+personID[14:], id.MaskedNumber)
	id, err = bo.IdentityOf(b.ctx, b.account(t))
	require.NoError(t, err)
	require.Equal(t, "unverified", id.State)
}
