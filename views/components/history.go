package components

import "time"

// HistoryRow is one subscription event as people read it: when, what
// (Kind is the event kind, Label its name in the reader's language) and
// the plans concerned (Detail).
type HistoryRow struct {
	At     time.Time
	Kind   string
	Label  string
	Detail string
}
