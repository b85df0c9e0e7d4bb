package identity_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/identity"
)

func TestParseCreditCode(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		// Two codes printed on public business licences (Tencent, Alibaba), which
		// confirms the alphabet, the weights and the 31 → 0 rule against reality.
		{"PublicTencent", "91440300708461136T", "91440300708461136T", nil},
		{"PublicAlibaba", "91330100716105852F", "91330100716105852F", nil},
		{"Sandbox", "91110108MA01ABC125", "91110108MA01ABC125", nil},
		{"LowerCase", "91440300708461136t", "91440300708461136T", nil},
		{"FullWidthAndSpaces", "９１４４ ０３００ ７０８４ ６１１３ ６Ｔ", "91440300708461136T", nil},
		{"BuiltBeijing", build(t, "91110000100000000"), "", nil},
		{"CentralAuthorityRegion10", build(t, "11100000MB0143553"), "", nil},

		{"Empty", "", "", identity.ErrCreditFormat},
		{"TooShort", "91440300708461136", "", identity.ErrCreditFormat},
		{"TooLong", "91440300708461136TT", "", identity.ErrCreditFormat},
		{"ForbiddenI", "9144030070846113IT", "", identity.ErrCreditFormat},
		{"ForbiddenO", "91440300O08461136T", "", identity.ErrCreditFormat},
		{"ForbiddenS", "9S440300708461136T", "", identity.ErrCreditFormat},
		{"ForbiddenV", "91440300708461136V", "", identity.ErrCreditFormat},
		{"ForbiddenZ", "91440300708461136Z", "", identity.ErrCreditFormat},
		{"Punctuation", "91440300-708461136", "", identity.ErrCreditFormat},
		{"LetterInRegion", build(t, "9144A300708461136"), "", identity.ErrCreditRegion},
		{"UnknownProvince", build(t, "91990300708461136"), "", identity.ErrCreditRegion},
		{"WrongCheck", "91440300708461136U", "", identity.ErrCreditChecksum},
		{"SwappedChars", "91440300780461136T", "", identity.ErrCreditChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := identity.ParseCreditCode(tt.in)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Equal(t, tt.wantErr.(*identity.ValidationError).Code, identity.Code(err))
				return
			}
			require.NoError(t, err)
			if tt.want != "" {
				require.Equal(t, tt.want, got.Code)
			}
		})
	}
}

func TestParseCreditCodeFields(t *testing.T) {
	t.Parallel()

	c, err := identity.ParseCreditCode("91440300708461136T")
	require.NoError(t, err)
	require.Equal(t, byte('9'), c.Authority)
	require.Equal(t, byte('1'), c.OrganisationType)
	require.Equal(t, "440300", c.Region)
	require.Equal(t, "708461136", c.OrganisationCode)
}

func TestCreditCodeCheckCharZero(t *testing.T) {
	t.Parallel()

	// Find a body whose weighted sum is a multiple of 31: the check character is 0, not 31.
	for i := range 1000 {
		body := fmt.Sprintf("91110000100000%03d", i)
		c, err := identity.CreditCodeCheckChar(body)
		require.NoError(t, err)
		if c == '0' {
			_, err := identity.ParseCreditCode(body + "0")
			require.NoError(t, err)
			return
		}
	}
	t.Fatal("no body with check character 0 found")
}

func build(t *testing.T, first17 string) string {
	t.Helper()
	c, err := identity.BuildCreditCode(first17)
	require.NoError(t, err)
	return c
}

func FuzzParseCreditCode(f *testing.F) {
	for _, s := range []string{
		"91440300708461136T", "91330100716105852f", "91440300708461136U", "9144030070846113IT",
		"９１４４０３００７０８４６１１３６Ｔ", "", "Y", "11100000MB0143553" + "0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := identity.ParseCreditCode(s)
		if err != nil {
			require.NotEmpty(t, identity.Code(err), "every failure carries a code: %v", err)
			return
		}
		require.Len(t, c.Code, 18)
		check, err := identity.CreditCodeCheckChar(c.Code[:17])
		require.NoError(t, err)
		require.Equal(t, check, c.Code[17])
		require.NotContains(t, c.Code, "I")
		require.NotContains(t, c.Code, "O")
		again, err := identity.ParseCreditCode(c.Code)
		require.NoError(t, err)
		require.Equal(t, c, again)
		require.Equal(t, c.Code[:2]+"************"+c.Code[14:], identity.MaskCreditCode(c.Code))
	})
}
