package admin

// CustomerAccess is the customer page's access panel: the account's model
// allow-list (nil: every model), its enterprise's for a sub-account, and
// the form that changes it.
type CustomerAccess struct {
	Models  []string
	Parent  []string // the enterprise's list (a sub-account's); nil: none
	Choices []string // the rate card's models
	Checked []string
	Error   string
	CanEdit bool
}
