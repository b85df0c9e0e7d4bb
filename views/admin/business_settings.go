package admin

// SettingsView is the business settings screen (/admin/settings): one
// form per group, each key's value in force with where it comes from and
// its history.
type SettingsView struct {
	Frame  Frame
	Groups []SettingsGroup
}

// SettingsGroup is one form of the screen.
type SettingsGroup struct {
	// Name is the group (topup, bank, limits, accounts); Title its label.
	Name, Title string
	// Fields are the inputs, holding what was typed after a failed save.
	Fields []SettingsField
	// Keys are the settings the form changes, with their state.
	Keys []SettingsKey
	// Reason is the typed reason; Errors the failed fields by name
	// (reason and form included).
	Reason string
	Errors Errors
	// Confirm is the question asked before the form is sent.
	Confirm string
	// Saved says the group was just saved (empty otherwise).
	Saved string
	// Seen are hidden fields naming the change of each key shown, so a
	// save never overwrites a change made meanwhile unseen.
	Seen []Hidden
}

// Hidden is a hidden form field.
type Hidden struct{ Name, Value string }

// SettingsField is one input: its name, label, text, allowed range hint
// and error; Numeric asks phones for the number keyboard.
type SettingsField struct {
	Name, Label, Value, Hint, Error string
	Numeric                         bool
}

// SettingsKey is one stored setting: its label, value in force (as text),
// where that comes from (the environment, or a change by whom and when)
// and its changes, newest first.
type SettingsKey struct {
	Key, Label, Value, Source string
	Changed                   bool
	History                   []SettingsChange
}

// SettingsChange is one row of a key's history.
type SettingsChange struct {
	At, By, Value, Reason string
}
