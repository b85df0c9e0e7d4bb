package admin

// AnalyticsView is the operator dashboard (/admin/analytics).
type AnalyticsView struct {
	Frame  Frame
	Form   AnalyticsForm
	Errors Errors
	// DataURL answers every chart's data as JSON (static/analytics.js).
	DataURL string
	// RefreshedAt is when the roll-ups were last computed ("" never).
	RefreshedAt string
	Charts      []AnalyticsChart
}

// AnalyticsChart is one chart of the dashboard: its name (i18n keys
// "analytics.chart.<name>" and "analytics.chart.<name>.note") and its CSV.
type AnalyticsChart struct {
	Name   string
	CSVURL string
}

// AnalyticsForm is the dashboard's period as typed, and the conversion
// window in days.
type AnalyticsForm struct {
	ReportForm
	Within string
}
