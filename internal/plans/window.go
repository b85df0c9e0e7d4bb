package plans

import (
	"errors"
	"sort"
	"time"

	"github.com/seed75218f88/credits/internal/platform/format"
)

// WindowKind is how a quota's window moves.
type WindowKind string

// The window kinds.
const (
	// WindowRolling counts the last Hours hours: a use at u counts while
	// now < u + Hours.
	WindowRolling WindowKind = "rolling"
	// WindowDay is the calendar day in Asia/Shanghai, from 00:00.
	WindowDay WindowKind = "day"
	// WindowWeek is the calendar week in Asia/Shanghai, from Monday 00:00.
	WindowWeek WindowKind = "week"
	// WindowPeriod is the subscription's billing period.
	WindowPeriod WindowKind = "period"
)

// DefaultRollingHours is a rolling window's length unless the plan says
// otherwise (the "per 5 hours" of coding plans).
const DefaultRollingHours = 5

// maxRollingHours is the longest rolling window: a leap year.
const maxRollingHours = 366 * 24

// Window is a quota's window. Hours is the length of a rolling window and 0
// for the others.
type Window struct {
	Kind  WindowKind `json:"kind"`
	Hours int        `json:"hours,omitempty"`
}

// Rolling is a rolling window of hours.
func Rolling(hours int) Window { return Window{Kind: WindowRolling, Hours: hours} }

// The calendar and period windows.
var (
	Day       = Window{Kind: WindowDay}
	Week      = Window{Kind: WindowWeek}
	PerPeriod = Window{Kind: WindowPeriod}
)

func (w Window) validate() error {
	switch w.Kind {
	case WindowRolling:
		if w.Hours >= 1 && w.Hours <= maxRollingHours {
			return nil
		}
	case WindowDay, WindowWeek, WindowPeriod:
		if w.Hours == 0 {
			return nil
		}
	}
	return errors.New("plans: bad window")
}

// Bounds returns the window in force at `at`. A calendar or period window
// is [start, end): the Shanghai day or week (Monday start) containing at, or
// period. A rolling window is (start, end] with start = at − Hours and
// end = at: it counts the uses after start, and moves with at.
func (w Window) Bounds(at time.Time, period Period) (start, end time.Time) {
	switch w.Kind {
	case WindowRolling:
		return at.Add(-time.Duration(w.Hours) * time.Hour), at
	case WindowDay:
		s := at.In(format.Shanghai)
		d := time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, format.Shanghai)
		return d.UTC(), d.AddDate(0, 0, 1).UTC()
	case WindowWeek:
		s := at.In(format.Shanghai)
		back := (int(s.Weekday()) + 6) % 7 // days since Monday
		d := time.Date(s.Year(), s.Month(), s.Day()-back, 0, 0, 0, 0, format.Shanghai)
		return d.UTC(), d.AddDate(0, 0, 7).UTC()
	case WindowPeriod:
		return period.Start.UTC(), period.End.UTC()
	}
	panic("plans: unknown window kind " + string(w.Kind))
}

// Counts reports whether a use at u counts in the window in force at `at`.
func (w Window) Counts(u, at time.Time, period Period) bool {
	start, end := w.Bounds(at, period)
	if w.Kind == WindowRolling {
		return u.After(start) && !u.After(end)
	}
	return !u.Before(start) && u.Before(end)
}

// Use is one counted use of a quota: its instant and amount (1 per request,
// or tokens).
type Use struct {
	At     time.Time
	Amount int64
}

// FreeAt returns the earliest instant, not before `at`, at which need more
// fits under limit in this window, given the uses made so far (any order;
// those the window does not count at `at` are ignored). For a calendar or
// period window that is `at` when it fits now, else the window's end (a new
// window starts empty). For a rolling window it is when enough of the oldest
// counted uses have left: the oldest counted use + Hours when dropping that
// one is enough. ok is false when need can never fit (need > limit); an
// Unlimited limit always fits at once.
func (w Window) FreeAt(at time.Time, period Period, uses []Use, limit, need int64) (free time.Time, ok bool) {
	if limit == Unlimited {
		return at, true
	}
	if need > limit {
		return time.Time{}, false
	}
	var counted []Use
	var used int64
	for _, u := range uses {
		if w.Counts(u.At, at, period) {
			counted = append(counted, u)
			used += u.Amount
		}
	}
	if used+need <= limit {
		return at, true
	}
	if w.Kind != WindowRolling {
		_, end := w.Bounds(at, period)
		return end, true
	}
	sort.Slice(counted, func(i, j int) bool { return counted[i].At.Before(counted[j].At) })
	length := time.Duration(w.Hours) * time.Hour
	for _, u := range counted {
		used -= u.Amount
		if used+need <= limit {
			return u.At.Add(length), true
		}
	}
	return at, true // unreachable: with every use gone, need ≤ limit fits
}
