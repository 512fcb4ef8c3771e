package boltstore

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// TestRegistrationPagesWritten shows where registration's cost at scale goes:
// for commits of 100 envelopes at 10,000 and at 200,000 stored, the pages each
// commit writes (bbolt rewrites every page a transaction dirtied, and the
// branch pages above it), splits and write time, and the shape of each bucket.
// Runs only with WAXSEAL_SCALE=1; docs/BENCHMARKS.md has the figures.
func TestRegistrationPagesWritten(t *testing.T) {
	if os.Getenv("WAXSEAL_SCALE") == "" {
		t.Skip("set WAXSEAL_SCALE=1 to measure registration at 200,000 envelopes")
	}
	s, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	t0 := time.Now().Add(-365 * 24 * time.Hour)
	n := 0
	put := func(count int) {
		for done := 0; done < count; done += 100 {
			var envs []keyserver.NewEnvelope
			var events []keyserver.AuditEvent
			for range 100 {
				id := envelope.NewID()
				r := keyserver.EnvelopeRecord{ID: id, Sender: fmt.Sprintf("sender%d@hospital.example", mrand.IntN(500)),
					Recipient: fmt.Sprintf("patient%d@example.org", mrand.IntN(20000)), Subject: "Results",
					Created: t0.Add(time.Duration(n) * 150 * time.Second), Expires: t0.Add(time.Duration(n)*150*time.Second + 400*24*time.Hour),
					WrappedKey: make([]byte, 48), KeyCheck: make([]byte, 32), HasPayload: true}
				rand.Read(r.WrappedKey)
				rand.Read(r.KeyCheck)
				envs = append(envs, keyserver.NewEnvelope{Record: r, Payload: make([]byte, 400)})
				events = append(events, keyserver.AuditEvent{Time: r.Created, Actor: "gateway", Action: keyserver.ActionEnvelopeRegister, Envelope: id.String()})
				n++
			}
			if err := s.PutEnvelopes(ctx, envs, events); err != nil {
				t.Fatal(err)
			}
		}
	}
	measure := func(label string) {
		before := s.db.Stats()
		start := time.Now()
		put(5000)
		el := time.Since(start)
		after := s.db.Stats()
		d := after.TxStats.Sub(&before.TxStats)
		t.Logf("%s: %.0f env/s; per commit of 100: pages written %.1f, splits %.1f, spill %v, write time %v, rebalance %.1f; free pages %d, pending %d, freelist bytes %d",
			label, 5000/el.Seconds(), float64(d.GetWrite())/50, float64(d.GetSplit())/50, d.GetSpillTime()/50, d.GetWriteTime()/50, float64(d.GetRebalance())/50,
			after.FreePageN, after.PendingPageN, after.FreeAlloc)
	}
	put(10000)
	measure("10k")
	put(200000 - n)
	measure("200k")
	s.db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			st := tx.Bucket(b).Stats()
			if st.KeyN == 0 {
				continue
			}
			t.Logf("bucket %s: keys %d, depth %d, leaf pages %d, leaf in use %d/%d", b, st.KeyN, st.Depth, st.LeafPageN, st.LeafInuse, st.LeafAlloc)
		}
		return nil
	})
}

// TestRegistrationViewIndexesCost measures what the indexes Sent items and the
// admin console search (sender, recipient, created) cost registration: two
// stores filled alike to WAXSEAL_SCALE_N envelopes (default 200,000), one with
// them and one without (only the expiry index, which the sweeper needs), then
// batches of 100 into each in turn, alternating which goes first, so that the
// shared machine's load falls on both alike. It logs the medians and their
// ratio; it asserts no time. Runs only with WAXSEAL_SCALE=1; docs/BENCHMARKS.md
// has the figures.
func TestRegistrationViewIndexesCost(t *testing.T) {
	if os.Getenv("WAXSEAL_SCALE") == "" {
		t.Skip("set WAXSEAL_SCALE=1 to measure registration with and without the views' indexes")
	}
	fill := 200000
	if v := os.Getenv("WAXSEAL_SCALE_N"); v != "" {
		if _, err := fmt.Sscan(v, &fill); err != nil {
			t.Fatal(err)
		}
	}
	open := func(name string, without bool) *Store {
		s, err := Open(filepath.Join(t.TempDir(), name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.withoutViewIndexes = without
		t.Cleanup(func() { s.Close() })
		return s
	}
	with, without := open("with.db", false), open("without.db", true)
	ctx := t.Context()
	t0 := time.Now().Add(-365 * 24 * time.Hour)
	n := map[*Store]int{}
	batch := func(s *Store) time.Duration {
		var envs []keyserver.NewEnvelope
		var events []keyserver.AuditEvent
		for range 100 {
			id := envelope.NewID()
			at := t0.Add(time.Duration(n[s]) * 150 * time.Second)
			r := keyserver.EnvelopeRecord{ID: id, Sender: fmt.Sprintf("sender%d@hospital.example", mrand.IntN(500)),
				Recipient: fmt.Sprintf("patient%d@example.org", mrand.IntN(20000)), Subject: "Results",
				Created: at, Expires: at.Add(400 * 24 * time.Hour),
				WrappedKey: make([]byte, 48), KeyCheck: make([]byte, 32), HasPayload: true}
			rand.Read(r.WrappedKey)
			rand.Read(r.KeyCheck)
			envs = append(envs, keyserver.NewEnvelope{Record: r, Payload: make([]byte, 400)})
			events = append(events, keyserver.AuditEvent{Time: at, Actor: "gateway", Action: keyserver.ActionEnvelopeRegister, Envelope: id.String()})
			n[s]++
		}
		start := time.Now()
		if err := s.PutEnvelopes(ctx, envs, events); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	for n[with] < fill {
		batch(with)
		batch(without)
	}
	const rounds = 60
	var dw, dwo []time.Duration
	for i := range rounds {
		if i%2 == 0 {
			dw = append(dw, batch(with))
			dwo = append(dwo, batch(without))
		} else {
			dwo = append(dwo, batch(without))
			dw = append(dw, batch(with))
		}
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	mw, mwo := median(dw), median(dwo)
	t.Logf("%d stored, %d rounds of a batch of 100 into each: median batch with the views' indexes %v (%.0f env/s), without %v (%.0f env/s); throughput with/without %.2f×",
		fill, rounds, mw, 100/mw.Seconds(), mwo, 100/mwo.Seconds(), float64(mwo)/float64(mw))
}
