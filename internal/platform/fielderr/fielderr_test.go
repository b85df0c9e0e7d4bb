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
