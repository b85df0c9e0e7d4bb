package admin

import "time"

// PlanCompForm is the form an admin gives a customer a plan with, and the
// customer's plan in force (CurrentPlan empty when none).
type PlanCompForm struct {
	Plans  []Option
	Plan   string
	Months string
	Reason string
	Errors Errors
	// CurrentPlan names the plan in force and CurrentEnd when it ends.
	CurrentPlan string
	CurrentEnd  time.Time
}
