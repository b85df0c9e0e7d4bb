package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/platform/format"
	"github.com/seed75218f88/credits/internal/platform/i18n"
	"github.com/seed75218f88/credits/internal/settings"
	adminview "github.com/seed75218f88/credits/views/admin"
)

// historyShown is how many changes of each key the screen lists.
const historyShown = 20

// adminBusinessSettingsRoutes: the business settings screen (admins).
func (s *Server) adminBusinessSettingsRoutes(g *echo.Group) {
	s.adminRoute(g, http.MethodGet, "/settings", "admin.settings", s.AdminSettings, auth.RoleAdmin)
	s.adminRoute(g, http.MethodPost, "/settings/:group", "admin.settings.save", s.AdminSettingsSave, auth.RoleAdmin)
}

// AdminSettings shows every group's form with the values in force; after a
// save (?saved=group) it says what was saved.
func (s *Server) AdminSettings(c echo.Context) error {
	return s.settingsPage(c, http.StatusOK, "", nil, nil, "", settings.Group(c.QueryParam("saved")))
}

// AdminSettingsSave changes one group: every field is checked at once; a
// failed form is shown again as typed, with its errors, in the user's
// language.
func (s *Server) AdminSettingsSave(c echo.Context) error {
	g := settings.Group(c.Param("group"))
	if !slices.Contains(settings.Groups, g) {
		return echo.ErrNotFound
	}
	in := map[string]string{}
	for _, f := range g.Fields() {
		in[f] = c.FormValue(f)
	}
	for _, k := range g.Keys() {
		if seen := c.FormValue(settings.SeenField(k)); seen != "" {
			in[settings.SeenField(k)] = seen
		}
	}
	reason := c.FormValue("reason")
	_, err := s.admin.settings.Change(c.Request().Context(), g, in, reason, actor(c))
	if err != nil {
		msgs, status, ok := s.fieldErrors(c, err)
		if !ok {
			return err
		}
		return s.settingsPage(c, status, g, in, msgs, reason, "")
	}
	return HXRedirect(c, s.URL("admin.settings")+"?saved="+string(g)+"#settings-"+string(g))
}

// settingsPage renders the screen from the stored values; the failed group
// (if any) shows what was typed and its errors.
func (s *Server) settingsPage(c echo.Context, status int, failed settings.Group, typed map[string]string, errs map[string]string,
	reason string, saved settings.Group) error {
	ctx := c.Request().Context()
	st, err := s.admin.settings.Load(ctx)
	if err != nil {
		return err
	}
	v := adminview.SettingsView{Frame: adminFrame(c, "admin.settings")}
	for _, g := range settings.Groups {
		title := tr(c, "settings.group."+string(g))
		gv := adminview.SettingsGroup{Name: string(g), Title: title, Errors: adminview.Errors{},
			Confirm: i18n.Tf(ctx, "settings.confirm", map[string]string{"Group": title})}
		if g == saved {
			gv.Saved = i18n.Tf(ctx, "settings.saved", map[string]string{"Group": title})
		}
		values := st.Values.Form(g)
		if g == failed {
			values, gv.Reason, gv.Errors = typed, reason, errs
		}
		for _, f := range g.Fields() {
			fv := adminview.SettingsField{Name: f, Label: tr(c, "settings.field."+f), Value: values[f], Error: gv.Errors[f]}
			if r, ok := settings.Ranges[f]; ok {
				fv.Numeric = f != settings.FieldTiers && f != settings.FieldBonus
				fv.Hint = i18n.Tf(ctx, "settings.hint."+f, pairs(settings.RangeArgs(r)))
			} else {
				fv.Hint = tr(c, "settings.hint."+f)
			}
			gv.Fields = append(gv.Fields, fv)
		}
		for _, k := range g.Keys() {
			gv.Seen = append(gv.Seen, adminview.Hidden{Name: settings.SeenField(k), Value: strconv.FormatInt(st.Changed[k].ID, 10)})
			kv, err := s.settingsKey(c, st, k)
			if err != nil {
				return err
			}
			gv.Keys = append(gv.Keys, kv)
		}
		v.Groups = append(v.Groups, gv)
	}
	return Render(c, status, adminview.BusinessSettings(v), nil)
}

// settingsKey is one key's value in force, its source and its history.
func (s *Server) settingsKey(c echo.Context, st settings.State, k settings.Key) (adminview.SettingsKey, error) {
	ctx := c.Request().Context()
	name := strings.ReplaceAll(string(k), ".", "_")
	kv := adminview.SettingsKey{Key: name, Label: tr(c, "settings.key."+name), Value: settingText(c, k, st.Values.Text(k)),
		Source: tr(c, "settings.source.env")}
	if ch, ok := st.Changed[k]; ok {
		kv.Changed = true
		kv.Source = i18n.Tf(ctx, "settings.source.changed", map[string]string{"By": ch.ChangedByEmail, "At": format.Time(ch.ChangedAt)})
	}
	hist, err := s.admin.settings.History(ctx, k, historyShown)
	if err != nil {
		return kv, err
	}
	defaults := s.admin.settings.Defaults()
	for _, h := range hist {
		text := "?"
		if v, err := h.Values(defaults); err == nil {
			text = settingText(c, k, v.Text(k))
		}
		kv.History = append(kv.History, adminview.SettingsChange{At: format.Time(h.ChangedAt), By: h.ChangedByEmail, Value: text, Reason: h.Reason})
	}
	return kv, nil
}

// settingText is a setting's value as staff read it: the enforcement mode
// by its name in the page's language (the stored word is what the form
// takes, and the field's label names it), anything else as it is.
func settingText(c echo.Context, k settings.Key, text string) string {
	if k == settings.KeyEnforcement {
		return tr(c, "enforcement.mode."+text) + " (" + text + ")"
	}
	return text
}

// pairs turns key, value arguments into a message's data.
func pairs(args []string) map[string]string {
	m := make(map[string]string, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		m[args[i]] = args[i+1]
	}
	return m
}
