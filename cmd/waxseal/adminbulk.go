package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/client"
)

// bulkOutcome is what a bulk revoke or lock prints: one JSON line, or a
// sentence on a terminal.
type bulkOutcome struct {
	Action  string `json:"action"`
	DryRun  bool   `json:"dry_run"`
	Matched int    `json:"matched"` // envelopes selected
	Changed int    `json:"changed"` // changed, or on a dry run to be changed
}

// adminBulk revokes or locks every envelope req selects: it counts them first
// (all a dry run does), then acts page by page, showing progress on a terminal.
// Each page is a request of bounded work; running the command again after an
// interruption finishes the job (what is done is skipped).
func adminBulk(ctx context.Context, c *client.Client, req api.BulkRequest, out io.Writer, asTable bool, stderr io.Writer) error {
	verb := map[string]string{"revoke": "revoking", "lock": "locking"}[req.Action]
	dry := req
	dry.DryRun = true
	count := newProgress(stderr, "counting", 0)
	total, err := bulkPages(ctx, c, dry, func(r api.BulkResult) { count.set(r.Matched) })
	count.done()
	if err != nil {
		return err
	}
	res := bulkOutcome{Action: req.Action, DryRun: req.DryRun, Matched: total.Matched, Changed: total.Changed}
	if !req.DryRun && total.Changed > 0 {
		p := newProgress(stderr, verb, total.Changed)
		done, err := bulkPages(ctx, c, req, func(r api.BulkResult) { p.set(r.Changed) })
		p.done()
		if err != nil {
			return err
		}
		res.Matched, res.Changed = done.Matched, done.Changed
	}
	if !asTable {
		return json.NewEncoder(out).Encode(res)
	}
	past := map[string]string{"revoke": "revoked", "lock": "locked"}[req.Action]
	if req.DryRun {
		_, err = fmt.Fprintf(out, "would %s %d of %d envelopes (the others are %s already); nothing changed\n", req.Action, res.Changed, res.Matched, past)
	} else {
		_, err = fmt.Fprintf(out, "%s %d of %d envelopes (the others were %s already)\n", past, res.Changed, res.Matched, past)
	}
	return err
}

// bulkPages runs req to the last page, calling step with the sums so far after
// each, and returns the sums.
func bulkPages(ctx context.Context, c *client.Client, req api.BulkRequest, step func(api.BulkResult)) (api.BulkResult, error) {
	var sum api.BulkResult
	for {
		res, err := c.Bulk(ctx, req)
		if err != nil {
			return sum, err
		}
		sum.Matched += res.Matched
		sum.Changed += res.Changed
		step(sum)
		if res.Next == "" {
			return sum, nil
		}
		req.Cursor = res.Next
	}
}
