package i18n_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/platform/db"
	"github.com/seed75218f88/credits/internal/platform/i18n"
)

func TestEveryKeyExistsInEveryLanguage(t *testing.T) {
	b, err := i18n.Default()
	require.NoError(t, err)
	zh, en := b.Keys(i18n.ZhCN), b.Keys(i18n.En)
	require.NotEmpty(t, zh)
	require.Empty(t, missing(zh, en), "keys in zh-CN but not in en (add them to locales/*.en.toml)")
	require.Empty(t, missing(en, zh), "keys in en but not in zh-CN (add them to locales/*.zh-CN.toml)")
}

func TestParityCheckCatchesAOneSidedKey(t *testing.T) {
	b, err := i18n.Load(fstest.MapFS{
		"x.zh-CN.toml": {Data: []byte(`"a" = "甲"` + "\n" + `"b" = "乙"`)},
		"x.en.toml":    {Data: []byte(`"a" = "A"`)},
	})
	require.NoError(t, err)
	require.Equal(t, []string{"b"}, missing(b.Keys(i18n.ZhCN), b.Keys(i18n.En)))
	require.False(t, b.Has("b"))
}

func TestLoadRefusesADuplicateKeyAcrossAreas(t *testing.T) {
	_, err := i18n.Load(fstest.MapFS{
		"x.en.toml": {Data: []byte(`"a" = "A"`)},
		"y.en.toml": {Data: []byte(`"a" = "A again"`)},
	})
	require.ErrorContains(t, err, `key "a" is defined in both`)
}

// keyUse finds literal keys passed to t/T/Tf, e.g. i18n.T(ctx, "menu.usage").
var keyUse = regexp.MustCompile(`\b(?:i18n\.)?(?:t|T|tf|Tf)\(\s*[A-Za-z_][\w.()]*\s*,\s*"([^"]+)"\s*[,)]`)

func TestEveryKeyUsedInViewsAndWebIsDefined(t *testing.T) {
	b, err := i18n.Default()
	require.NoError(t, err)
	root := db.ProjectRoot()
	used := 0
	for _, dir := range []string{"views", "web"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".templ") || strings.HasSuffix(p, ".go")) {
				return err
			}
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range keyUse.FindAllStringSubmatch(string(src), -1) {
				used++
				require.Truef(t, b.Has(m[1]), "%s uses i18n key %q that is not defined in every locale", p, m[1])
			}
			return nil
		})
		if !os.IsNotExist(err) {
			require.NoError(t, err)
		}
	}
	require.NotZero(t, used, "the scan found no key usage at all: is the pattern still right?")
}

func TestMatchPrefersTheCookieThenAcceptLanguage(t *testing.T) {
	b, err := i18n.Default()
	require.NoError(t, err)
	require.Equal(t, i18n.En, b.Match("en", "zh-CN"))
	require.Equal(t, i18n.ZhCN, b.Match("zh-CN", "en-US"))
	require.Equal(t, i18n.En, b.Match("", "en-GB,en;q=0.9"))
	require.Equal(t, i18n.ZhCN, b.Match("", "zh-Hans-CN,zh;q=0.9,en;q=0.5"))
	require.Equal(t, i18n.ZhCN, b.Match("fr", "de-DE"), "zh-CN is the default")
	require.Equal(t, i18n.ZhCN, b.Match("", ""))
}

func TestTReadsTheLocalizerFromTheContext(t *testing.T) {
	b, err := i18n.Default()
	require.NoError(t, err)
	ctx := i18n.WithLocalizer(context.Background(), b.Localizer(i18n.En))
	require.Equal(t, "Usage", i18n.T(ctx, "menu.usage"))
	require.Contains(t, i18n.Tf(ctx, "error.internal", map[string]string{"RequestID": "abc123"}), "abc123")
	zh := i18n.WithLocalizer(context.Background(), b.Localizer(i18n.ZhCN))
	require.Equal(t, "用量", i18n.T(zh, "menu.usage"))
	require.Equal(t, "no.such.key", i18n.T(zh, "no.such.key"), "a missing key shows as itself")
	// Again, now from the localizer's memory of plain texts: the same
	// answers, and a key's text with data still filled in each time.
	for range 2 {
		require.Equal(t, "Usage", i18n.T(ctx, "menu.usage"))
		require.Equal(t, "用量", i18n.T(zh, "menu.usage"))
		require.Equal(t, "no.such.key", i18n.T(zh, "no.such.key"))
	}
	require.Contains(t, i18n.Tf(ctx, "error.internal", map[string]string{"RequestID": "def456"}), "def456")
}

// BenchmarkT: a plain text (no data), as every page asks for dozens.
func BenchmarkT(b *testing.B) {
	bundle, err := i18n.Default()
	require.NoError(b, err)
	l := bundle.Localizer(i18n.ZhCN)
	b.ReportAllocs()
	for b.Loop() {
		if l.T("menu.usage") != "用量" {
			b.Fatal("wrong text")
		}
	}
}

func missing(from, in []string) []string {
	set := map[string]bool{}
	for _, k := range in {
		set[k] = true
	}
	var out []string
	for _, k := range from {
		if !set[k] {
			out = append(out, k)
		}
	}
	return out
}

// TestGlossary: one word per concept (locales/GLOSSARY.md). No Chinese
// message uses 额度 for the unit or for a balance bucket, and the English
// lot kinds are capitalised like the rest of the interface.
func TestGlossary(t *testing.T) {
	root := db.ProjectRoot()
	files, err := filepath.Glob(filepath.Join(root, "locales", "*.toml"))
	require.NoError(t, err)
	forbidden := []string{"付费额度", "赠送额度", "可用额度", "点额度", "额度批次"}
	unitAfterNumber := regexp.MustCompile(`(\}\}|\d)\s*额度`)
	checked := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for n, line := range strings.Split(string(src), "\n") {
			if strings.HasSuffix(f, ".zh-CN.toml") {
				checked++
				for _, w := range forbidden {
					require.NotContainsf(t, line, w, "%s:%d uses %q; the glossary says 点数 / 充值余额 / 赠送余额", filepath.Base(f), n+1, w)
				}
				require.Falsef(t, unitAfterNumber.MatchString(line), "%s:%d counts in 额度; the unit is 点", filepath.Base(f), n+1)
				short := strings.ReplaceAll(line, "分配额度不足", "")
				require.NotContainsf(t, short, "额度不足", "%s:%d: credit that is short is 可用点数不足 (额度 is an allocation)", filepath.Base(f), n+1)
			}
		}
	}
	require.NotZero(t, checked)
	b, err := i18n.Default()
	require.NoError(t, err)
	ctx := i18n.WithLocalizer(context.Background(), b.Localizer(i18n.En))
	for _, k := range []string{"paid", "promo", "plan", "grace"} {
		label := i18n.T(ctx, "kind."+k)
		require.Equal(t, strings.ToUpper(label[:1]), label[:1], "kind.%s in English is %q", k, label)
	}
}

// TestChineseMailsNameTheProductAsThePagesDo: the pages call the product
// 算力点数 (app.name) in Chinese, so the Chinese part of every mail does
// too. Before, the team invitation and the password reset said "Credits"
// in their Chinese text.
func TestChineseMailsNameTheProductAsThePagesDo(t *testing.T) {
	b, err := i18n.Default()
	require.NoError(t, err)
	zh := b.Localizer(i18n.ZhCN)
	require.Equal(t, "算力点数", zh.T("app.name"))
	var latin []string
	for _, k := range b.Keys(i18n.ZhCN) {
		if strings.HasPrefix(k, "mail.") && regexp.MustCompile(`\bCredits\b`).MatchString(zh.T(k)) {
			latin = append(latin, k)
		}
	}
	require.Empty(t, latin, "Chinese mail text naming the product in English")
}
