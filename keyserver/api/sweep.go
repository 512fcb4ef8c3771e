package api

// SweepDue answers GET /api/v1/admin/sweep: the envelopes past their expiry
// whose keys are not yet destroyed (counted up to a million).
type SweepDue struct {
	Due int `json:"due"`
}

// SweepRequest is the body of POST /api/v1/admin/sweep: expire up to Limit
// (default and at most 1000) due envelopes now.
type SweepRequest struct {
	Limit int `json:"limit,omitempty"`
}

// SweepResult answers it: how many this call expired, and whether others are
// still due (call again).
type SweepResult struct {
	Expired int  `json:"expired"`
	More    bool `json:"more"`
}
