package portal

// AlertsView is the low-balance alert settings page.
type AlertsView struct {
	Frame
	// Sub: a department's user, whose alerts its enterprise sets.
	Sub  bool
	Form AlertsForm
	// Saved shows the saved notice.
	Saved bool
	// Owner is the account user's own address (mailed when MailOwner).
	Owner string
}

// AlertsForm is what the settings form shows and keeps: the values as typed
// and each field's error in the user's language.
type AlertsForm struct {
	Percents, Credits, Recipients string
	MailOwner                     bool
	Errors                        map[string]string
}
