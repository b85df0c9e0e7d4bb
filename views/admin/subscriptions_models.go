package admin

import "time"

// SubscriptionFilter is the subscriber list's filter as the user sent it.
type SubscriptionFilter struct {
	Plan  string
	State string
	Cycle string
	Due   string // renewal due within this many days ("" any)
	Query string
}

// SubscriptionRow is one subscription of the list.
type SubscriptionRow struct {
	ID        int64
	AccountID int64
	Account   string // name, else external id, else #id
	Plan      string
	Cycle     string
	State     string
	TermEnd   time.Time
	Renews    bool
}

// SubscriptionsView is /admin/subscriptions: the filters, one page of
// subscriptions, the pager.
type SubscriptionsView struct {
	Frame    Frame
	Filter   SubscriptionFilter
	Plans    []Option
	Errors   Errors
	Rows     []SubscriptionRow
	NextURL  string
	FirstURL string
}

// SubscriptionPanel is a customer's subscription on the customer page:
// the plan in force (nil: none), its history, and the staff forms.
type SubscriptionPanel struct {
	Current *SubscriptionRow
	Period  [2]time.Time
	History []SubscriptionEvent
	// Extend and Grant are the forms the user may use (nil: not shown).
	Extend *ExtendForm
	Grant  *PlanGrantForm
}

// SubscriptionEvent is one line of a subscription's history.
type SubscriptionEvent struct {
	At      time.Time
	Kind    string
	Plan    string
	TermEnd time.Time
	Actor   string
	Note    string
}

// ExtendForm extends the plan in force by a number of days.
type ExtendForm struct {
	Days   string
	Reason string
	Errors Errors
}

// PlanGrantForm grants an enterprise a plan for a contract term; above
// LimitMonths it waits for another admin's approval.
type PlanGrantForm struct {
	Plans       []Option
	Plan        string
	Months      string
	Reason      string
	LimitMonths int
	Errors      Errors
}
