package fielderr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

func TestErrors(t *testing.T) {
	t.Parallel()

	t.Run("EmptyIsNil", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, fielderr.New("auth").Err())
	})

	t.Run("AllFieldsAtOnce", func(t *testing.T) {
		t.Parallel()
		errs := fielderr.New("auth").
			Add("email", "invalid_email").
			Add("password", "password_too_short", "min", "8").
			Add("email", "required")
		err := fmt.Errorf("signup: %w", errs.Err())
		require.ErrorIs(t, err, fielderr.ErrInvalid)
		got, ok := fielderr.As(err)
		require.True(t, ok)
		require.Len(t, got.Fields, 2)
		require.Equal(t, "invalid_email", got.Code("email"))
		require.Equal(t, "8", got.Fields[1].Args["min"])
		require.Equal(t, "", got.Code("name"))
		require.Equal(t, "auth: invalid input: email: invalid_email, password: password_too_short", got.Error())
	})

	t.Run("NotFieldErrors", func(t *testing.T) {
		t.Parallel()
		_, ok := fielderr.As(errors.New("boom"))
		require.False(t, ok)
	})
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	errInvalidAmount := fielderr.One("backoffice", "amount", "invalid_amount")
	errReasonRequired := fielderr.One("backoffice", "reason", "reason_required")

	t.Run("ItselfWrapped", func(t *testing.T) {
		t.Parallel()
		err := fmt.Errorf("grant: %w", errInvalidAmount)
		require.ErrorIs(t, err, errInvalidAmount)
		require.ErrorIs(t, err, fielderr.ErrInvalid)
		require.NotErrorIs(t, err, errReasonRequired)
	})

	t.Run("InsideACollection", func(t *testing.T) {
		t.Parallel()
		errs := fielderr.New("backoffice").Add("amount", "invalid_amount").Add("reason", "reason_required")
		require.ErrorIs(t, errs, errInvalidAmount)
		require.ErrorIs(t, errs, errReasonRequired)
		require.NotErrorIs(t, fielderr.New("backoffice").Add("amount", "too_large"), errInvalidAmount)
		require.NotErrorIs(t, fielderr.New("invoicing").Add("reason", "reason_required"), errReasonRequired)
	})

	t.Run("OnAnotherField", func(t *testing.T) {
		t.Parallel()
		require.ErrorIs(t, fielderr.One("backoffice", "note", "reason_required"), errReasonRequired)
	})

	t.Run("AnyCodeOfAField", func(t *testing.T) {
		t.Parallel()
		errWeak := &fielderr.Errors{Domain: "auth", Fields: []fielderr.Field{{Name: "password"}}}
		require.ErrorIs(t, fielderr.One("auth", "password", "password_too_short"), errWeak)
		require.NotErrorIs(t, fielderr.One("auth", "login", "invalid_email"), errWeak)
	})

	t.Run("Merge", func(t *testing.T) {
		t.Parallel()
		errs := fielderr.New("auth").Add("login", "invalid_email")
		require.True(t, errs.Merge(fmt.Errorf("x: %w", fielderr.New("auth").Add("login", "login_taken").Add("password", "password_too_short"))))
		require.False(t, errs.Merge(errors.New("boom")))
		require.Equal(t, "invalid_email", errs.Code("login"))
		require.Equal(t, "password_too_short", errs.Code("password"))
	})
}
