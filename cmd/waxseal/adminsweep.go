package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/waxseal/waxseal/keyserver/client"
)

// sweepStep is one line `admin sweep` prints when not a terminal (or with
// --json): after the count, after each page, and at the end (done).
type sweepStep struct {
	Due     int  `json:"due"`     // due when the sweep began
	Expired int  `json:"expired"` // expired so far
	Done    bool `json:"done"`
}

// adminSweep runs the expiry sweep now, a page at a time: it counts what is
// due, then expires page by page, showing progress on a terminal (stderr) and
// ending with a sentence; otherwise it prints a JSON line per step. Running it
// again after an interruption finishes the job.
func adminSweep(ctx context.Context, c *client.Client, args []string, out adminOutput, stderr io.Writer) error {
	fs := newFlagSet("admin sweep", "admin sweep [--page N]", stderr)
	page := fs.Int("page", 500, "envelopes expired per request (at most 1000)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return errHelp
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 || *page < 1 || *page > 1000 {
		return usagef("admin sweep [--page N] (N from 1 to 1000)")
	}
	enc := json.NewEncoder(out.w)
	due, err := c.SweepDue(ctx)
	if err != nil {
		return err
	}
	step := sweepStep{Due: due}
	if !out.table {
		if err := enc.Encode(step); err != nil {
			return err
		}
	}
	p := newProgress(stderr, "expiring", due)
	for more := due > 0; more; {
		res, err := c.Sweep(ctx, *page)
		if err != nil {
			p.done()
			return fmt.Errorf("sweep stopped after %d envelopes (run it again to finish): %w", step.Expired, err)
		}
		step.Expired += res.Expired
		more = res.More
		p.set(step.Expired)
		if !out.table && more {
			if err := enc.Encode(step); err != nil {
				return err
			}
		}
	}
	p.done()
	step.Done = true
	if !out.table {
		return enc.Encode(step)
	}
	_, err = fmt.Fprintf(out.w, "expired %d envelopes (%d were due)\n", step.Expired, due)
	return err
}
