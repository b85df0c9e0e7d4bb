package components

// ModelChecksProps is a model allow-list as one tick per model: Choices
// are the models that may be ticked, Checked those ticked (none ticked:
// no list, every model).
type ModelChecksProps struct {
	Name    string
	Label   string
	Hint    string
	Choices []string
	Checked []string
	Error   string
}
