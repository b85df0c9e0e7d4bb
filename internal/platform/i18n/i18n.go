// Package i18n loads the message files of locales/ (go-i18n v2, TOML) and
// gives templates and handlers one way to read text: T(ctx, key), with the
// request's localizer carried in the context.
package i18n

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"github.com/seed75218f88/credits/locales"
)

// The supported languages; zh-CN is the default.
const (
	ZhCN = "zh-CN"
	En   = "en"
)

// Languages lists the supported languages, default first.
var Languages = []string{ZhCN, En}

var tags = []language.Tag{language.MustParse(ZhCN), language.MustParse(En)}

// Bundle holds every message of every language.
type Bundle struct {
	b       *goi18n.Bundle
	keys    map[string]map[string]string // lang → key → file that defines it
	matcher language.Matcher
}

// Load reads every <area>.<lang>.toml file at the top of fsys. It fails on a
// file for an unsupported language and on a key defined twice in one language.
func Load(fsys fs.FS) (*Bundle, error) {
	b := &Bundle{
		b:       goi18n.NewBundle(tags[0]),
		keys:    map[string]map[string]string{},
		matcher: language.NewMatcher(tags),
	}
	b.b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	for _, l := range Languages {
		b.keys[l] = map[string]string{}
	}
	files, err := fs.Glob(fsys, "*.toml")
	if err != nil {
		return nil, fmt.Errorf("i18n: %w", err)
	}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		lang := langOfFile(f)
		known, ok := b.keys[lang]
		if !ok {
			return nil, fmt.Errorf("i18n: %s: language %q is not one of %v", f, lang, Languages)
		}
		mf, err := b.b.ParseMessageFileBytes(data, f)
		if err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", f, err)
		}
		for _, m := range mf.Messages {
			if other, dup := known[m.ID]; dup {
				return nil, fmt.Errorf("i18n: key %q is defined in both %s and %s", m.ID, other, f)
			}
			known[m.ID] = f
		}
	}
	return b, nil
}

// Default loads the embedded locales/ files.
func Default() (*Bundle, error) { return Load(locales.FS) }

// langOfFile returns "zh-CN" for "portal.zh-CN.toml".
func langOfFile(name string) string {
	base := strings.TrimSuffix(path.Base(name), path.Ext(name))
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		return base[i+1:]
	}
	return base
}

// Keys returns the sorted keys defined for lang.
func (b *Bundle) Keys(lang string) []string {
	keys := make([]string, 0, len(b.keys[lang]))
	for k := range b.keys[lang] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Has reports whether every supported language defines key.
func (b *Bundle) Has(key string) bool {
	for _, l := range Languages {
		if _, ok := b.keys[l][key]; !ok {
			return false
		}
	}
	return true
}

// Match picks the language for a request: the lang cookie's value when it is
// supported, else the best match for the Accept-Language header, else zh-CN.
func (b *Bundle) Match(cookie, acceptLanguage string) string {
	for _, l := range Languages {
		if strings.EqualFold(cookie, l) {
			return l
		}
	}
	if acceptLanguage == "" {
		return ZhCN
	}
	_, i, conf := b.matcher.Match(parseAccept(acceptLanguage)...)
	if conf == language.No {
		return ZhCN
	}
	return Languages[i]
}

func parseAccept(h string) []language.Tag {
	t, _, err := language.ParseAcceptLanguage(h)
	if err != nil {
		return nil
	}
	return t
}

// Localizer gives the text of one language.
type Localizer struct {
	lang string
	l    *goi18n.Localizer
	// plain keeps each key's text without data (T): it never changes for
	// one language, and go-i18n works it out anew on every call, at a
	// cost that showed in page rendering profiles.
	plain sync.Map // key -> string
}

// Localizer returns the localizer for lang (zh-CN when unsupported).
func (b *Bundle) Localizer(lang string) *Localizer {
	if _, ok := b.keys[lang]; !ok {
		lang = ZhCN
	}
	return &Localizer{lang: lang, l: goi18n.NewLocalizer(b.b, lang)}
}

// Lang is the localizer's language, e.g. "zh-CN".
func (l *Localizer) Lang() string { return l.lang }

// T returns the text of key; an unknown key comes back as the key itself so
// that it shows on the page (and the locale tests fail).
func (l *Localizer) T(key string) string {
	if l == nil {
		return key
	}
	if s, ok := l.plain.Load(key); ok {
		return s.(string)
	}
	s := l.Tf(key, nil)
	if s != key { // only the bundle's own keys: callers may build keys from input
		l.plain.Store(key, s)
	}
	return s
}

// Tf returns the text of key with data filled into its {{.Field}} slots.
func (l *Localizer) Tf(key string, data any) string {
	if l == nil {
		return key
	}
	s, err := l.l.Localize(&goi18n.LocalizeConfig{MessageID: key, TemplateData: data})
	if err != nil || s == "" {
		return key
	}
	return s
}

type ctxKey struct{}

// WithLocalizer returns ctx carrying l, read by T and Tf.
func WithLocalizer(ctx context.Context, l *Localizer) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the request's localizer, or nil.
func FromContext(ctx context.Context) *Localizer {
	l, _ := ctx.Value(ctxKey{}).(*Localizer)
	return l
}

// T returns the text of key in the language of the request in ctx.
func T(ctx context.Context, key string) string { return FromContext(ctx).T(key) }

// Tf returns the text of key in the request's language with data filled in.
func Tf(ctx context.Context, key string, data any) string { return FromContext(ctx).Tf(key, data) }

// Lang returns the request's language (zh-CN when ctx carries none).
func Lang(ctx context.Context) string {
	if l := FromContext(ctx); l != nil {
		return l.lang
	}
	return ZhCN
}
