package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/access"
	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/gateway"
	"github.com/seed75218f88/credits/internal/invoicing"
	"github.com/seed75218f88/credits/internal/payments"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/platform/i18n/i18ntest"
	"github.com/seed75218f88/credits/internal/relay"
	"github.com/seed75218f88/credits/internal/settings"
	"github.com/seed75218f88/credits/internal/verification"
)

// Every code a domain (or a handler's own check) can put in a
// *fielderr.Errors has a message in both languages: error.field.<code>.
func TestFieldCodesHaveMessages(t *testing.T) {
	t.Parallel()
	var keys []string
	for _, codes := range [][]string{auth.FieldCodes, backoffice.FieldCodes, invoicing.FieldCodes, verification.FieldCodes,
		payments.FieldCodes, payments.ProductFieldCodes, backoffice.PlanCodeFieldCodes, gateway.FieldCodes, importCodes, topUpFieldCodes, refundFieldCodes, signUpFieldCodes, ownFieldCodes,
		settings.FieldCodes, access.FieldCodes, relay.FieldCodes, backoffice.RateCardFieldCodes} {
		require.NotEmpty(t, codes)
		for _, c := range codes {
			keys = append(keys, fieldKey(c))
		}
	}
	i18ntest.RequireKeys(t, append(keys, "error.invalid_input")...)
}

// fieldMessages fills each message with its field's arguments, in the
// user's language.
func TestFieldMessagesInTheUsersLanguage(t *testing.T) {
	t.Parallel()
	bundle, err := i18n.Default()
	require.NoError(t, err)
	errs := fielderr.New("invoicing").Add("title.name", invoicing.CodeTooLong, "max", "100").Add("email", invoicing.CodeRequired)
	for lang, want := range map[string][2]string{
		"zh-CN": {"最多 100 个字符。", "此项为必填项。"},
		"en":    {"At most 100 characters.", "This field is required."},
	} {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req = req.WithContext(i18n.WithLocalizer(req.Context(), bundle.Localizer(lang)))
		c := echo.New().NewContext(req, httptest.NewRecorder())
		msgs := fieldMessages(c, errs)
		require.Equal(t, map[string]string{"title.name": want[0], "email": want[1]}, msgs, lang)
	}
}

// The one error table answers field failures outside a form: a domain's
// own row keeps its API code, any other is invalid_input; all are 422 but
// a missing account (404) and a throttled redemption (429).
func TestFieldErrorsInTheTable(t *testing.T) {
	t.Parallel()
	s := &Server{errors: append([]ErrorMapping(nil), errorTable...)}
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("grant: %w", fielderr.New("backoffice").Add("amount", "invalid_amount").Add("expires_at", "invalid_expiry")), 422, "invalid_amount"},
		{backoffice.ErrAccountNotFound, 404, "not_found"},
		{backoffice.ErrRedeemThrottled, 429, "rate_limited"},
		{fielderr.New("verification").Add("name", verification.CodeRequired), 422, "invalid_input"},
		{fielderr.New("auth").Add("login", "invalid_email"), 422, "invalid_input"},
	} {
		m := s.LookupError(tc.err)
		require.Equal(t, tc.status, m.Status, tc.err.Error())
		require.Equal(t, tc.code, m.Code, tc.err.Error())
	}
}
