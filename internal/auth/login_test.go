package auth_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/fielderr"
)

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	valid := []string{
		"+86 138 0013 8000",
		"13800138000",
		"+8613800138000",
		"138-0013-8000",
		"0086 13800138000",
		"8613800138000",
		"(+86) 138 0013 8000",
		"１３８００１３８０００",     // full-width digits from a Chinese input method
		"＋８６ １３８００１３８０００", // full-width plus and ideographic space
		" 13800138000 ",
	}
	for _, in := range valid {
		got, err := auth.NormalizePhone(in)
		require.NoError(t, err, in)
		require.Equal(t, "+8613800138000", got, in)
	}
	for _, in := range []string{"19912345678", "16612345678", "14512345678"} {
		_, err := auth.NormalizePhone(in)
		require.NoError(t, err, in)
	}
	invalid := []string{
		"",
		"12800138000",      // second digit must be 3-9
		"23800138000",      // not starting with 1
		"1380013800",       // 10 digits
		"138001380001",     // 12 digits
		"+1 415 555 2671",  // not China
		"+852 9123 4567",   // Hong Kong
		"+86 10 6552 9988", // Beijing landline
		"138 0013 8000 ext 1",
		"138O0138000", // letter O
		"+86+13800138000",
	}
	for _, in := range invalid {
		_, err := auth.NormalizePhone(in)
		require.ErrorIs(t, err, auth.ErrInvalidPhone, in)
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	valid := map[string]string{
		"Li.Lei@Example.COM":         "li.lei@example.com",
		"  wang+ai@mail.qq.com ":     "wang+ai@mail.qq.com",
		"zhang_san@163.com":          "zhang_san@163.com",
		"a@b.cn":                     "a@b.cn",
		"x@xn--fiqs8s.xn--fiqz9s":    "x@xn--fiqs8s.xn--fiqz9s",
		"ops@sub-domain.example.org": "ops@sub-domain.example.org",
	}
	for in, want := range valid {
		got, err := auth.NormalizeEmail(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	invalid := []string{
		"",
		"plainaddress",
		"@example.com",
		"li@",
		"li@localhost",
		"li@example",
		"Li Lei <li@example.com>",
		"li@@example.com",
		"li@exa_mple.com",
		"li@-example.com",
		"li@example-.com",
		"li@example..com",
		"li..lei@example.com",
		"li@example.c",
		"li@10.0.0.1",
		"li@[10.0.0.1]",
		"li lei@example.com",
		"\"li lei\"@example.com",
		"li@例子.中国",
		strings.Repeat("a", 65) + "@example.com",
		"a@" + strings.Repeat("b", 250) + ".com",
	}
	for _, in := range invalid {
		_, err := auth.NormalizeEmail(in)
		require.ErrorIs(t, err, auth.ErrInvalidEmail, in)
	}
}

func TestNormalizeLogin(t *testing.T) {
	t.Parallel()
	got, kind, err := auth.NormalizeLogin("Li@Example.com")
	require.NoError(t, err)
	require.Equal(t, "li@example.com", got)
	require.Equal(t, auth.LoginEmail, kind)

	got, kind, err = auth.NormalizeLogin("+86 139 1234 5678")
	require.NoError(t, err)
	require.Equal(t, "+8613912345678", got)
	require.Equal(t, auth.LoginPhone, kind)

	_, _, err = auth.NormalizeLogin("li@")
	require.ErrorIs(t, err, auth.ErrInvalidEmail)
	_, _, err = auth.NormalizeLogin("lilei")
	require.ErrorIs(t, err, auth.ErrInvalidPhone)
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		password, login, code string
	}{
		{"short1!", "", "password_too_short"},
		{"密码密码密码密", "", "password_too_short"}, // 7 characters though 21 bytes
		{"12345678", "", "password_all_digits"},
		{"13800138000", "", "password_all_digits"},
		{strings.Repeat("ab", 513), "", "password_too_long"},
		{"li@example.com", "Li@Example.com", "password_is_login"},
		{"abcdefgh", "", ""},
		{"密码密码密码密码", "", ""},
		{"1234567a", "", ""},
	}
	for _, c := range cases {
		err := auth.CheckPassword(c.password, c.login)
		if c.code == "" {
			require.NoError(t, err, c.password)
			continue
		}
		require.ErrorIs(t, err, auth.ErrWeakPassword, c.password)
		e, ok := fielderr.As(err)
		require.True(t, ok)
		require.Equal(t, c.code, e.Code("password"), c.password)
		require.Equal(t, c.code, auth.Code(err))
	}
}

func TestParseRoles(t *testing.T) {
	t.Parallel()
	roles, err := auth.ParseRoles(" Finance, support ,support")
	require.NoError(t, err)
	require.Equal(t, []auth.Role{auth.RoleSupport, auth.RoleFinance}, roles)

	roles, err = auth.ParseRoles("")
	require.NoError(t, err)
	require.Empty(t, roles)

	_, err = auth.ParseRoles("support,root")
	require.ErrorIs(t, err, auth.ErrUnknownRole)
	require.Contains(t, err.Error(), `"root"`)
}

func TestGeneratePassword(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 50 {
		pw := auth.GeneratePassword()
		require.Len(t, pw, 20)
		require.NoError(t, auth.CheckPassword(pw, ""))
		require.NotContainsf(t, pw, "0", "look-alike in %s", pw)
		require.False(t, seen[pw])
		seen[pw] = true
	}
}
