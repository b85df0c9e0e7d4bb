package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/web/webtest"
)

var reviewSeq = 0

// undecidedPersonID is a valid number the sandbox cannot decide (sequence
// 998): it waits in the manual review queue.
func undecidedPersonID(t *testing.T) string {
	t.Helper()
	reviewSeq++
	id, err := identity.BuildResidentID("510107", time.Date(1995, 11, 11, 0, 0, 0, 0, time.UTC).AddDate(0, 0, reviewSeq), 998)
	require.NoError(t, err)
	return id
}

// pendingCustomer registers a customer whose submission waits for review.
func (b *kycBundle) pendingCustomer(t *testing.T, login, number string) (*webtest.Client, int64, int64) {
	t.Helper()
	c, u := b.register(t, login)
	p := c.PostForm("/portal/verification/person", url.Values{"name": {"钱七"}, "id_number": {number}, "consent_sensitive_pi": {"yes"}})
	require.Equal(t, "pending", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"), p.Body)
	st, err := b.verif.Status(context.Background(), u.AccountID)
	require.NoError(t, err)
	return c, u.AccountID, st.VerificationID
}

func TestAdminKYCReview(t *testing.T) {
	b := setupKYC(t, kycOpts{})
	ctx := context.Background()
	support := b.staff(t, "kyc-support@example.com", auth.RoleSupport)
	admin := b.staff(t, "kyc-admin@example.com", auth.RoleAdmin)
	finance := b.staff(t, "kyc-finance@example.com", auth.RoleFinance)

	t.Run("ApproveFromTheQueueGrantsTheBonusOnce", func(t *testing.T) {
		number := undecidedPersonID(t)
		cust, acct, vid := b.pendingCustomer(t, "review-approve@example.com", number)
		p := support.Get("/admin/kyc")
		require.Equal(t, http.StatusOK, p.Status)
		row := p.Doc.Find(`[data-testid="kyc-row"][data-id="` + strconv.FormatInt(vid, 10) + `"]`)
		require.Equal(t, 1, row.Length())
		require.Contains(t, row.Text(), identity.MaskID(number))
		require.NotContains(t, p.Body, number)

		id := strconv.FormatInt(vid, 10)
		p = support.Get("/admin/kyc/detail?id=" + id)
		require.Equal(t, "pending", attr(p.Doc.Find(`[data-testid="kyc-detail"]`), "data-state"))
		p = support.PostForm("/admin/kyc/decide", url.Values{"id": {id}, "decision": {"approve"}})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.NotEmpty(t, p.TestID("flash-success"))
		require.Zero(t, p.Doc.Find(`[data-testid="kyc-row"][data-id="`+id+`"]`).Length(), "gone from the queue")

		p = cust.Get("/portal/verification")
		require.Equal(t, "verified", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"))
		require.NotEmpty(t, p.TestID("verification-bonus"))
		// Deciding again is refused: the bonus is granted once.
		p = support.PostForm("/admin/kyc/decide", url.Values{"id": {id}, "decision": {"approve"}})
		require.Equal(t, http.StatusConflict, p.Status)
		bal, err := b.ledger.Balance(ctx, acct)
		require.NoError(t, err)
		require.True(t, bal.ByKind[ledger.LotPromo].Equal(verificationBonus.Add(signupCredit)))
	})

	t.Run("RejectNeedsAReasonTheCustomerSees", func(t *testing.T) {
		cust, _, vid := b.pendingCustomer(t, "review-reject@example.com", undecidedPersonID(t))
		id := strconv.FormatInt(vid, 10)
		admin.Get("/admin/kyc/detail?id=" + id)
		p := admin.PostForm("/admin/kyc/decide", url.Values{"id": {id}, "decision": {"reject"}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Contains(t, p.TestID("error-reason"), "原因")
		p = admin.PostForm("/admin/kyc/decide", url.Values{"id": {id}, "decision": {"reject"}, "reason": {"证件照片模糊，请重新提交"}})
		require.Equal(t, http.StatusOK, p.Status)
		p = cust.Get("/portal/verification")
		require.Equal(t, "rejected", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"))
		require.Contains(t, p.TestID("verification-reason"), "证件照片模糊")
		require.NotEmpty(t, p.Doc.Find(`[data-testid="person-form"]`).Nodes)

		// A reason code is localized.
		_, _, vid = b.pendingCustomer(t, "review-reject-code@example.com", undecidedPersonID(t))
		admin.PostForm("/admin/kyc/decide", url.Values{"id": {strconv.FormatInt(vid, 10)}, "decision": {"reject"}, "reason_code": {"name_mismatch"}})
		p = admin.Get("/admin/kyc/detail?id=" + strconv.FormatInt(vid, 10))
		require.Contains(t, p.TestID("kyc-reason"), "不符")
	})

	t.Run("RevealOnlyForEntitledRolesAndAudited", func(t *testing.T) {
		number := undecidedPersonID(t)
		_, _, vid := b.pendingCustomer(t, "review-reveal@example.com", number)
		id := strconv.FormatInt(vid, 10)
		support.Get("/admin/kyc/detail?id=" + id)
		p := support.PostForm("/admin/kyc/reveal", url.Values{"id": {id}})
		require.Equal(t, http.StatusForbidden, p.Status)
		require.NotContains(t, p.Body, number)
		p = finance.Get("/admin/kyc/detail?id=" + id)
		require.Equal(t, http.StatusForbidden, p.Status, "finance does not review identities")

		p = admin.Get("/admin/kyc/detail?id=" + id)
		require.NotContains(t, p.Body, number)
		p = admin.PostForm("/admin/kyc/reveal", url.Values{"id": {id}})
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, number, p.TestID("kyc-revealed-number"))
		require.Equal(t, "no-store", p.Header.Get("Cache-Control"))
		p = admin.HTMX(http.MethodPost, "/admin/kyc/reveal", url.Values{"id": {id}})
		require.Equal(t, number, p.TestID("kyc-revealed-number"))
		require.Empty(t, p.Doc.Find(`[data-testid="staff-bar"]`).Nodes, "htmx gets the fragment")

		p = admin.Get("/admin/kyc/detail?id=" + id)
		log := p.Doc.Find(`[data-testid="kyc-access-log"] tr`)
		require.Equal(t, 3, log.Length())
		require.Equal(t, 1, p.Doc.Find(`[data-testid="kyc-access-log"] tr[data-granted="false"]`).Length())
		require.Contains(t, log.Text(), "kyc-support@example.com")
		require.NotContains(t, p.Body, number)

		// Missing or unknown ids.
		require.Equal(t, http.StatusBadRequest, admin.PostForm("/admin/kyc/reveal", url.Values{}).Status)
		require.Equal(t, http.StatusNotFound, admin.Get("/admin/kyc/detail?id=999999").Status)
	})

	// Support decides company verifications in manual review, so it sees
	// the licence it decides on; every view is logged.
	t.Run("LicenceForTheDecidingRoles", func(t *testing.T) {
		c, u := b.register(t, "review-licence@example.com")
		c.Get("/portal/verification?tab=enterprise")
		code, err := identity.BuildCreditCode("91330100MA2H09" + "98" + "1")
		require.NoError(t, err)
		p := postMultipart(t, c, "/portal/verification/company", map[string]string{"consent_sensitive_pi": "yes", "company_name": "杭州待审数据有限公司", "credit_code": code, "legal_rep": "赵六"}, "licence", "执照.png", pngBytes)
		require.Equal(t, "pending", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"), p.Body)
		st, err := b.verif.Status(ctx, u.AccountID)
		require.NoError(t, err)
		id := strconv.FormatInt(st.VerificationID, 10)
		p = support.Get("/admin/kyc/detail?id=" + id)
		require.Equal(t, "执照.png", p.TestID("kyc-licence"))
		p = support.Get("/admin/kyc/licence?id=" + id)
		require.Equal(t, http.StatusOK, p.Status, "support sees the licence it decides on")
		require.Equal(t, string(pngBytes), p.Body)
		p = admin.Get("/admin/kyc/licence?id=" + id)
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, "image/png", p.Header.Get("Content-Type"))
		require.Equal(t, string(pngBytes), p.Body)
		p = admin.Get("/admin/kyc/detail?account=" + strconv.FormatInt(u.AccountID, 10))
		require.Equal(t, 2, p.Doc.Find(`[data-testid="kyc-access-log"] tr`).Length(), "both views logged")
		log, err := b.verif.AccessLog(ctx, st.VerificationID)
		require.NoError(t, err)
		require.Len(t, log, 2)
		require.True(t, log[0].Granted && log[0].Field == "licence" && slices.Contains(log[0].ViewerRoles, "support"), "%+v", log[0])
	})
}
