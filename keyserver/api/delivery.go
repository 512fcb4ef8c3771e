package api

import "time"

// Delivery is what the next hop did with an envelope's wrapper mail, as the
// gateway reported it: State is "delivered" (the next hop took it), "queued"
// (the gateway retries it; Detail is the last error) or "refused" (refused for
// good or given up; Detail is the next hop's reply). Detail is plain text, one
// line of at most 300 characters: show it as text, never as HTML.
// GaveUpAfter, on a refused one, is how long the gateway kept trying before it
// gave up, in seconds (0: the next hop refused it for good); the pages say it
// in the reader's language.
type Delivery struct {
	State       string    `json:"state"`
	Detail      string    `json:"detail,omitempty"`
	GaveUpAfter int64     `json:"gave_up_after,omitempty"`
	At          time.Time `json:"at"`
}

// DeliveryReport is one envelope's delivery state in POST /api/v1/deliveries.
type DeliveryReport struct {
	ID          string    `json:"id"`
	State       string    `json:"state"`
	Detail      string    `json:"detail,omitempty"`
	GaveUpAfter int64     `json:"gave_up_after,omitempty"` // seconds, as in Delivery
	At          time.Time `json:"at"`
}

// DeliveryRequest is the body of POST /api/v1/deliveries (gateway token): at
// most 1000 reports.
type DeliveryRequest struct {
	Deliveries []DeliveryReport `json:"deliveries"`
}

// DeliveryResult answers it: how many envelopes changed (a report for an
// unknown envelope, a repeated one or one older than the state held changes
// nothing, and is not an error).
type DeliveryResult struct {
	Changed int `json:"changed"`
}
