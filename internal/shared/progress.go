package shared

// ProgressConfig describes a funnel or a goal to its shared state.
type ProgressConfig struct{}

// Progress is the shared state of a funnel or a goal.
type Progress interface{}
