package admin

import "time"

// UpstreamsView is the upstreams page of the OpenAI-compatible gateway:
// the list and the add form (admins only).
type UpstreamsView struct {
	Frame     Frame
	Upstreams []UpstreamRow
	Form      UpstreamForm
	Errors    Errors
	Flash     string
}

// UpstreamRow is one upstream as staff see it: never its secret, only
// whether one is stored.
type UpstreamRow struct {
	ID        int64
	Name      string
	BaseURL   string
	HasSecret bool
	Models    []ModelMapping
	Weight    int
	Priority  int
	TimeoutMS int64
	Enabled   bool
	UpdatedAt time.Time
	EditURL   string
	// Circuit is what the gateway processes' circuit breakers say of it.
	Circuit Circuit
}

// Circuit is an upstream's circuit breakers across the gateway processes:
// how many skip it (open) until when, and how many are trying it again
// (half-open); all zero when every circuit is closed.
type Circuit struct {
	Open, HalfOpen int
	OpenUntil      time.Time // the last of the open circuits' ends
}

// ModelMapping is one public model and the upstream's name for it.
type ModelMapping struct{ Public, Upstream string }

// UpstreamForm is the add or edit form as typed; the secret is never shown
// again (an empty secret on an edit keeps the stored one).
type UpstreamForm struct {
	Name, BaseURL, Models, Weight, Priority, TimeoutMS string
	Enabled                                            bool
}

// UpstreamEditView is the edit page of one upstream.
type UpstreamEditView struct {
	Frame  Frame
	ID     int64
	Form   UpstreamForm
	Errors Errors
}
