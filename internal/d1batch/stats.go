//go:build js && wasm

package d1batch

import (
	"sync/atomic"
	"time"
)

// Stats counts the D1 batches and awaited promises of this Go instance and
// where their time went, for profiling the Worker (a test route reads it):
// Build is the time spent turning statements into prepared D1 statements
// (Go to JavaScript), Wait the time from handing the batch to D1 until its
// answer was back in Go (D1 itself, workerd, and the wait for Go's turn), Read
// the time turning the answer into Go values. Counting is off unless
// CountCalls(true): a few clock reads per call when on.
type Stats struct {
	Batches    int64 `json:"batches"`
	Statements int64 `json:"statements"`
	Rows       int64 `json:"rows"`
	Awaits     int64 `json:"awaits"` // Await calls (R2 and others), outside Batch
	BuildNs    int64 `json:"build_ns"`
	WaitNs     int64 `json:"wait_ns"`
	ReadNs     int64 `json:"read_ns"`
	AwaitNs    int64 `json:"await_ns"`
}

var (
	counting atomic.Bool
	stats    struct {
		batches, statements, rows, awaits atomic.Int64
		build, wait, read, await          atomic.Int64
	}
)

// CountCalls turns the counting of Stats on or off.
func CountCalls(on bool) { counting.Store(on) }

// ReadStats returns the counts so far and, if reset, starts them again from 0.
func ReadStats(reset bool) Stats {
	get := func(v *atomic.Int64) int64 {
		if reset {
			return v.Swap(0)
		}
		return v.Load()
	}
	return Stats{
		Batches: get(&stats.batches), Statements: get(&stats.statements), Rows: get(&stats.rows), Awaits: get(&stats.awaits),
		BuildNs: get(&stats.build), WaitNs: get(&stats.wait), ReadNs: get(&stats.read), AwaitNs: get(&stats.await),
	}
}

// since adds the time from t to v and returns now, when counting.
func since(v *atomic.Int64, t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	now := time.Now()
	v.Add(int64(now.Sub(t)))
	return now
}

// start is time.Now() when counting, else the zero time (since then does nothing).
func start() time.Time {
	if !counting.Load() {
		return time.Time{}
	}
	return time.Now()
}
