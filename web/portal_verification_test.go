package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/ledger"
	"github.com/seed75218f88/credits/web"
)

func TestPortalVerificationPerson(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{})
	ctx := context.Background()

	t.Run("FormErrorsInTheUsersLanguage", func(t *testing.T) {
		c, _ := b.register(t, "kyc-errors@example.com")
		p := c.Get("/portal/verification")
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, "unverified", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"))
		good := newPersonID(t)
		badCheck := good[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", good[17])+1)%11])
		cases := []struct {
			name, number, field, zh, en string
		}{
			{"", good, "name", "必填", "required"},
			{"张三", badCheck, "id_number", "校验", "check digit"},
			{"张三", "110101199002300012", "id_number", "出生日期", "date of birth"},
			{"张三", "990101199003070011", "id_number", "地区", "region"},
			{"张三", "11010119900307001", "id_number", "18", "18 characters"},
		}
		for _, tc := range cases {
			p := c.PostForm("/portal/verification/person", url.Values{"name": {tc.name}, "id_number": {tc.number}, "consent_sensitive_pi": {"yes"}})
			require.Equal(t, http.StatusUnprocessableEntity, p.Status, tc.number)
			require.Contains(t, p.TestID("error-"+tc.field), tc.zh, tc.number)
			require.Equal(t, tc.number, val(p, "id_number"), "the number typed is kept to be corrected")
			require.Equal(t, "no-store", p.Header.Get("Cache-Control"), "and kept out of caches")
			require.Equal(t, tc.name, val(p, "name"))
		}
		c.Header.Set("Accept-Language", "en")
		c.Get("/lang/en")
		for _, tc := range cases {
			p := c.PostForm("/portal/verification/person", url.Values{"name": {tc.name}, "id_number": {tc.number}, "consent_sensitive_pi": {"yes"}})
			require.Equal(t, http.StatusUnprocessableEntity, p.Status)
			require.Contains(t, p.TestID("error-"+tc.field), tc.en, tc.number)
		}
		// htmx gets the 422 too.
		p = c.HTMX(http.MethodPost, "/portal/verification/person", url.Values{"name": {""}, "id_number": {"x"}, "consent_sensitive_pi": {"yes"}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.NotEmpty(t, p.TestID("error-name"))
	})

	t.Run("VerifiedWithTheBonusOnceAndMaskedNumber", func(t *testing.T) {
		c, u := b.register(t, "kyc-person@example.com")
		number := newPersonID(t)
		// A lower-case x or spaces are accepted as typed.
		typed := strings.ToLower(number[:6] + " " + number[6:])
		p := c.PostForm("/portal/verification/person", url.Values{"name": {"张三"}, "id_number": {typed}, "consent_sensitive_pi": {"yes"}})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, "/portal/verification", p.URL.Path)
		require.Equal(t, "verified", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"))
		require.Equal(t, identity.MaskID(number), p.TestID("verification-number"))
		require.Equal(t, "张*", p.TestID("verification-name"))
		require.NotEmpty(t, p.TestID("verification-bonus"))
		require.NotContains(t, p.Body, number)
		require.Empty(t, p.Doc.Find(`[data-testid="person-form"]`).Nodes, "nothing more to submit")

		// Submitting again (a stale tab) is refused; the bonus stays single.
		p = c.PostForm("/portal/verification/person", url.Values{"name": {"张三"}, "id_number": {number}, "consent_sensitive_pi": {"yes"}})
		require.Equal(t, http.StatusConflict, p.Status)
		require.Contains(t, p.TestID("error"), "已完成实名认证")
		bal, err := b.ledger.Balance(ctx, u.AccountID)
		require.NoError(t, err)
		require.True(t, bal.ByKind[ledger.LotPromo].Equal(verificationBonus.Add(signupCredit)), bal.ByKind[ledger.LotPromo].String())

		// The same number cannot verify a second account.
		c2, _ := b.register(t, "kyc-person-2@example.com")
		p = c2.PostForm("/portal/verification/person", url.Values{"name": {"张三"}, "id_number": {number}, "consent_sensitive_pi": {"yes"}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Contains(t, p.TestID("error-id_number"), "其他账户")
		require.Equal(t, "no-store", p.Header.Get("Cache-Control"))
	})

	t.Run("RejectedWithReasonThenResubmitted", func(t *testing.T) {
		c, _ := b.register(t, "kyc-rejected@example.com")
		mismatch, err := identity.BuildResidentID("330106", time.Date(1988, 6, 15, 0, 0, 0, 0, time.UTC), 999)
		require.NoError(t, err)
		p := c.PostForm("/portal/verification/person", url.Values{"name": {"赵六"}, "id_number": {mismatch}, "consent_sensitive_pi": {"yes"}})
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, "rejected", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"))
		require.Contains(t, p.TestID("verification-reason"), "与证件号码不符")
		require.NotEmpty(t, p.Doc.Find(`[data-testid="person-form"]`).Nodes, "resubmission allowed")
		p = c.PostForm("/portal/verification/person", url.Values{"name": {"赵六"}, "id_number": {newPersonID(t)}, "consent_sensitive_pi": {"yes"}})
		require.Equal(t, "verified", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"))
		require.Len(t, p.Doc.Find(`[data-testid="verification-history"] tbody tr`).Nodes, 2)
	})
}

func TestPortalVerificationCompany(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{})
	c, u := b.register(t, "kyc-company@example.com")
	c.Get("/portal/verification?tab=enterprise")
	code := newCreditCode(t)
	fields := func(name, code, rep string) map[string]string {
		return map[string]string{"consent_sensitive_pi": "yes", "company_name": name, "credit_code": code, "legal_rep": rep}
	}

	t.Run("FormErrors", func(t *testing.T) {
		badCode := code[:17] + map[bool]string{true: "1", false: "0"}[code[17] == '0']
		cases := []struct {
			name        string
			fields      map[string]string
			file        []byte
			field, text string
		}{
			{"NoLicence", fields("北京示例科技有限公司", code, "张三"), nil, "licence", "必填"},
			{"LicenceTooLarge", fields("北京示例科技有限公司", code, "张三"), append(append([]byte{}, pngBytes...), make([]byte, 5<<20)...), "licence", "过大"},
			{"LicenceNotAnImage", fields("北京示例科技有限公司", code, "张三"), []byte("just some text, not an image"), "licence", "JPEG"},
			{"CreditCodeCheckChar", fields("北京示例科技有限公司", badCode, "张三"), pngBytes, "credit_code", "校验"},
			{"NoCompanyName", fields("", code, "张三"), pngBytes, "company_name", "必填"},
			{"NoLegalRep", fields("北京示例科技有限公司", code, ""), pngBytes, "legal_rep", "必填"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := postMultipart(t, c, "/portal/verification/company", tc.fields, "licence", "licence.png", tc.file)
				require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
				require.Contains(t, p.TestID("error-"+tc.field), tc.text)
				require.Equal(t, "page", attr(p.Doc.Find(`[data-testid="tab-enterprise"]`), "aria-current"))
				require.NotEmpty(t, p.Doc.Find(`[data-testid="company-form"]`).Nodes)
				require.Equal(t, "no-store", p.Header.Get("Cache-Control"), "the form carries what was typed: no cache keeps it")
			})
		}
	})

	t.Run("Verified", func(t *testing.T) {
		p := postMultipart(t, c, "/portal/verification/company", fields("北京示例科技有限公司", code, "张三"), "licence", "licence.png", pngBytes)
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, "verified", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"))
		require.Equal(t, "北京示例科技有限公司", p.TestID("verification-name"))
		require.Equal(t, identity.MaskCreditCode(code), p.TestID("verification-number"))
		require.NotContains(t, p.Body, code)
		ok, err := b.verif.IsVerified(context.Background(), u.AccountID)
		require.NoError(t, err)
		require.True(t, ok)
	})
}

// TestVerificationNeedsSeparateConsentToSensitivePI: without the separate
// consent nothing is stored or sent, and the form says so next to every
// other problem, keeping what was typed; with it the consent is recorded
// (document, version) before the number is submitted.
func TestVerificationNeedsSeparateConsentToSensitivePI(t *testing.T) {
	t.Parallel()
	b := setupKYC(t, kycOpts{})
	c, u := b.register(t, uniqEmail("kyc-consent"))
	c.Get("/portal/verification")
	number := newPersonID(t)
	p := c.PostForm("/portal/verification/person", url.Values{"name": {""}, "id_number": {number}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.NotEmpty(t, p.TestID("error-consent_sensitive_pi"))
	require.NotEmpty(t, p.TestID("error-name"), "every field at once")
	require.Equal(t, number, p.Doc.Find(`#f-id_number`).AttrOr("value", ""), "the number typed is kept")
	require.Equal(t, "no-store", p.Header.Get("Cache-Control"))
	var rows int
	require.NoError(t, b.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM verifications WHERE account_id = $1`, u.AccountID).Scan(&rows))
	require.Zero(t, rows, "nothing collected without consent")
	consents, err := b.auth.Consents(context.Background(), u.ID)
	require.NoError(t, err)
	for _, k := range consents {
		require.NotEqual(t, auth.ConsentSensitivePI, k.Document)
	}

	p = c.PostForm("/portal/verification/person", url.Values{"name": {"张三"}, "id_number": {number}, "consent_sensitive_pi": {"yes"}})
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Equal(t, "verified", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"))
	consents, err = b.auth.Consents(context.Background(), u.ID)
	require.NoError(t, err)
	last := consents[len(consents)-1]
	require.Equal(t, auth.ConsentSensitivePI, last.Document)
	require.Equal(t, web.LegalVersion, last.Version)

	c.Get("/lang/en")
	c2, _ := b.register(t, uniqEmail("kyc-consent-en"))
	c2.Get("/lang/en")
	p = c2.PostForm("/portal/verification/person", url.Values{"name": {"Li"}, "id_number": {newPersonID(t)}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.TestID("error-consent_sensitive_pi"), "sensitive personal information")
}
