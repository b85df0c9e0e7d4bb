package mail

import (
	"strings"

	"github.com/seed75218f88/credits/internal/platform/i18n"
)

// Every mail the platform sends is written in the locale files as a pair of
// keys, <key>.subject and <key>.text, so its wording lives beside the rest of
// the product's text and exists in every language (the i18n parity test).
// Compose and ComposeBilingual are the only places that turn such a pair
// into a Message.

// Compose writes the mail key in the language of l, to the given recipients.
func Compose(l *i18n.Localizer, key string, data any, to ...string) Message {
	return Message{To: to, Subject: l.Tf(key+".subject", data), Text: l.Tf(key+".text", data)}
}

// bilingualSeparator divides the languages of a bilingual mail's text.
const bilingualSeparator = "\n\n——\n\n"

// ComposeBilingual writes the mail key in Chinese, then English, for mail
// whose reader's language is unknown (an address typed on a form). The
// subject is the Chinese one; data is rendered in each language by lang,
// which returns the template data for that language.
func ComposeBilingual(bundle *i18n.Bundle, key string, data func(l *i18n.Localizer) any, to ...string) Message {
	var texts []string
	var subject string
	for i, lang := range []string{i18n.ZhCN, i18n.En} {
		l := bundle.Localizer(lang)
		d := data(l)
		if i == 0 {
			subject = l.Tf(key+".subject", d)
		}
		texts = append(texts, l.Tf(key+".text", d))
	}
	return Message{To: to, Subject: subject, Text: strings.Join(texts, bilingualSeparator)}
}
