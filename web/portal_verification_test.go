package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
	"github.com/seed75218f88/credits/internal/ledger"
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
			p := c.PostForm("/portal/verification/person", url.Values{"name": {tc.name}, "id_number": {tc.number}})
			require.Equal(t, http.StatusUnprocessableEntity, p.Status, tc.number)
			require.Contains(t, p.TestID("error-"+tc.field), tc.zh, tc.number)
			require.NotContains(t, p.Body, tc.number, "the number is never echoed back")
			require.Equal(t, tc.name, val(p, "name"))
		}
		c.Header.Set("Accept-Language", "en")
		c.Get("/lang/en")
		for _, tc := range cases {
			p := c.PostForm("/portal/verification/person", url.Values{"name": {tc.name}, "id_number": {tc.number}})
			require.Equal(t, http.StatusUnprocessableEntity, p.Status)
			require.Contains(t, p.TestID("error-"+tc.field), tc.en, tc.number)
		}
		// htmx gets the 422 too.
		p = c.HTMX(http.MethodPost, "/portal/verification/person", url.Values{"name": {""}, "id_number": {"x"}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.NotEmpty(t, p.TestID("error-name"))
	})

	t.Run("VerifiedWithTheBonusOnceAndMaskedNumber", func(t *testing.T) {
		c, u := b.register(t, "kyc-person@example.com")
		number := newPersonID(t)
		// A lower-case x or spaces are accepted as typed.
		typed := strings.ToLower(number[:6] + " " + number[6:])
		p := c.PostForm("/portal/verification/person", url.Values{"name": {"张三"}, "id_number": {typed}})
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		require.Equal(t, "/portal/verification", p.URL.Path)
		require.Equal(t, "verified", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"))
		require.Equal(t, identity.MaskID(number), p.TestID("verification-number"))
		require.Equal(t, "张*", p.TestID("verification-name"))
		require.NotEmpty(t, p.TestID("verification-bonus"))
		require.NotContains(t, p.Body, number)
		require.Empty(t, p.Doc.Find(`[data-testid="person-form"]`).Nodes, "nothing more to submit")

		// Submitting again (a stale tab) is refused; the bonus stays single.
		p = c.PostForm("/portal/verification/person", url.Values{"name": {"张三"}, "id_number": {number}})
		require.Equal(t, http.StatusConflict, p.Status)
		require.Contains(t, p.TestID("error"), "已完成实名认证")
		bal, err := b.ledger.Balance(ctx, u.AccountID)
		require.NoError(t, err)
		require.True(t, bal.ByKind[ledger.LotPromo].Equal(verificationBonus.Add(signupCredit)), bal.ByKind[ledger.LotPromo].String())

		// The same number cannot verify a second account.
		c2, _ := b.register(t, "kyc-person-2@example.com")
		p = c2.PostForm("/portal/verification/person", url.Values{"name": {"张三"}, "id_number": {number}})
		require.Equal(t, http.StatusUnprocessableEntity, p.Status)
		require.Contains(t, p.TestID("error-id_number"), "其他账户")
		require.NotContains(t, p.Body, number)
	})

	t.Run("RejectedWithReasonThenResubmitted", func(t *testing.T) {
		c, _ := b.register(t, "kyc-rejected@example.com")
		mismatch, err := identity.BuildResidentID("330106", time.Date(1988, 6, 15, 0, 0, 0, 0, time.UTC), 999)
		require.NoError(t, err)
		p := c.PostForm("/portal/verification/person", url.Values{"name": {"赵六"}, "id_number": {mismatch}})
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, "rejected", attr(p.Doc.Find(`[data-testid="verification-state"]`), "data-state"))
		require.Contains(t, p.TestID("verification-reason"), "与证件号码不符")
		require.NotEmpty(t, p.Doc.Find(`[data-testid="person-form"]`).Nodes, "resubmission allowed")
		p = c.PostForm("/portal/verification/person", url.Values{"name": {"赵六"}, "id_number": {newPersonID(t)}})
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
		return map[string]string{"company_name": name, "credit_code": code, "legal_rep": rep}
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
				require.NotContains(t, p.Body, code)
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
