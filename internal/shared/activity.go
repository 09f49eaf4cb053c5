package shared

// ActivityConfig describes an activity recorder to its shared state.
type ActivityConfig struct{}

// Activity is the shared state of an activity recorder.
type Activity interface{}
