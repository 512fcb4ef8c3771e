package boltstore

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
// admin console search (sender, recipient, created) cost registration, and
// why registration slows as the store grows. Stores filled alike, in lockstep:
// the real layout (sender and recipient keys partitioned by day); without the
// views' indexes (only the expiry index, which the sweeper needs: registration
// before them); and version 1's layout (sender and recipient keys by address
// alone, as before 2026-12-06). At 10,000 stored and at WAXSEAL_SCALE_N
// (default 200,000), rounds of one batch of 100 into each in turn, rotating
// which goes first, so that the shared machine's load falls on all alike. Per
// store it logs the median batch, and per commit the pages bbolt wrote, the
// bytes the process wrote (/proc/self/io wchar, all of it fsynced by the
// commit), the write-and-fsync time, and the trees' depths. It asserts no
// time. Runs only with WAXSEAL_SCALE=1; docs/BENCHMARKS.md has the figures.
func TestRegistrationViewIndexesCost(t *testing.T) {
	fill := scaleN(t, "to measure registration with and without the views' indexes")
	type variant struct {
		name string
		s    *Store
		n    int
	}
	open := func(name string, layout viewLayout) *variant {
		s, err := Open(filepath.Join(t.TempDir(), name+".db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.viewLayout = layout
		t.Cleanup(func() { s.Close() })
		return &variant{name: name, s: s}
	}
	variants := []*variant{
		open("with (by day)", viewsByDay),
		open("without", viewsNone),
		open("with, version 1", viewsByAddress),
	}
	ctx := t.Context()
	t0 := time.Now().Add(-365 * 24 * time.Hour)
	batch := func(v *variant) (time.Duration, int64) {
		var envs []keyserver.NewEnvelope
		var events []keyserver.AuditEvent
		for range 100 {
			id := envelope.NewID()
			at := t0.Add(time.Duration(v.n) * 150 * time.Second)
			r := keyserver.EnvelopeRecord{ID: id, Sender: fmt.Sprintf("sender%d@hospital.example", mrand.IntN(500)),
				Recipient: fmt.Sprintf("patient%d@example.org", mrand.IntN(20000)), Subject: "Results",
				Created: at, Expires: at.Add(400 * 24 * time.Hour),
				WrappedKey: make([]byte, 48), KeyCheck: make([]byte, 32), HasPayload: true}
			rand.Read(r.WrappedKey)
			rand.Read(r.KeyCheck)
			envs = append(envs, keyserver.NewEnvelope{Record: r, Payload: make([]byte, 400)})
			events = append(events, keyserver.AuditEvent{Time: at, Actor: "gateway", Action: keyserver.ActionEnvelopeRegister, Envelope: id.String()})
			v.n++
		}
		w0 := writtenBytes()
		start := time.Now()
		if err := v.s.PutEnvelopes(ctx, envs, events); err != nil {
			t.Fatal(err)
		}
		return time.Since(start), writtenBytes() - w0
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	measure := func(label string) {
		const rounds = 60
		times := make([][]time.Duration, len(variants))
		bytes := make([]int64, len(variants))
		before := make([]bolt.TxStats, len(variants))
		for i, v := range variants {
			before[i] = v.s.db.Stats().TxStats
		}
		for r := range rounds {
			for j := range variants {
				i := (j + r) % len(variants)
				d, b := batch(variants[i])
				times[i] = append(times[i], d)
				bytes[i] += b
			}
		}
		base := median(times[1]) // without the views' indexes
		for i, v := range variants {
			st := v.s.db.Stats()
			d := st.TxStats.Sub(&before[i])
			m := median(times[i])
			var size int64
			if fi, err := os.Stat(v.s.db.Path()); err == nil {
				size = fi.Size()
			}
			t.Logf("%s stored, %-20s median batch of 100 %6.2f ms (%5.0f env/s, %.2f× of without); per commit: pages written %5.1f, bytes written %7.0f KiB, write+fsync %5.2f ms, spill %5.2f ms; file %4d MiB, free pages %d",
				label, v.name, float64(m.Microseconds())/1000, 100/m.Seconds(), float64(base)/float64(m),
				float64(d.GetWrite())/rounds, float64(bytes[i])/rounds/1024, float64(d.GetWriteTime().Microseconds())/1000/rounds,
				float64(d.GetSpillTime().Microseconds())/1000/rounds, size>>20, st.FreePageN)
		}
		variants[0].s.db.View(func(tx *bolt.Tx) error {
			for _, b := range allBuckets {
				st := tx.Bucket(b).Stats()
				if st.KeyN == 0 {
					continue
				}
				t.Logf("%s stored, with: bucket %-16s keys %7d, depth %d, leaf pages %5d, branch pages %4d", label, b, st.KeyN, st.Depth, st.LeafPageN, st.BranchPageN)
			}
			return nil
		})
	}
	grow := func(to int) {
		for variants[0].n < to {
			for _, v := range variants {
				batch(v)
			}
		}
	}
	grow(10000)
	measure("10k")
	grow(fill)
	measure(fmt.Sprintf("%dk", variants[0].n/1000))
}

// writtenBytes is what this process has passed to write calls so far
// (/proc/self/io wchar), or 0 where there is no such file.
func writtenBytes() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// TestMigrationTime times the migration of a version 1 file of
// WAXSEAL_SCALE_N envelopes (default 200,000; 500 senders, 20,000 recipients,
// one every 150 s) to version 2 at Open, with the copy aside that `waxseal
// migrate` makes first. It asserts no time. Runs only with WAXSEAL_SCALE=1.
func TestMigrationTime(t *testing.T) {
	n := scaleN(t, "to time the layout migration")
	t0 := time.Now().Add(-365 * 24 * time.Hour)
	recs := make([]keyserver.EnvelopeRecord, n)
	for i := range recs {
		at := t0.Add(time.Duration(i) * 150 * time.Second)
		recs[i] = keyserver.EnvelopeRecord{ID: envelope.NewID(), Sender: fmt.Sprintf("sender%d@hospital.example", mrand.IntN(500)),
			Recipient: fmt.Sprintf("patient%d@example.org", mrand.IntN(20000)), Subject: "Results",
			Created: at, Expires: at.Add(400 * 24 * time.Hour), WrappedKey: make([]byte, 48), KeyCheck: make([]byte, 32)}
	}
	path := filepath.Join(t.TempDir(), "v1.db")
	writeVersion1(t, path, recs)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, err := Open(path, Options{Migrate: true, MigrateBackup: path + ".before"})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	defer s.Close()
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d envelopes (%d index entries): file %d MiB, migrated with its copy aside in %v; file after %d MiB",
		n, 2*n, fi.Size()>>20, took.Round(time.Millisecond), after.Size()>>20)
}

// scaleN skips a measurement unless WAXSEAL_SCALE is set, and returns its
// size: WAXSEAL_SCALE_N, default 200,000.
func scaleN(t *testing.T, what string) int {
	t.Helper()
	if os.Getenv("WAXSEAL_SCALE") == "" {
		// A measurement for docs/BENCHMARKS.md, not a check: it asserts no
		// time, and fills stores of hundreds of megabytes for up to a minute.
		t.Skip("a measurement, not a check (it asserts nothing; docs/BENCHMARKS.md has its figures): set WAXSEAL_SCALE=1 " + what)
	}
	n := 200000
	if v := os.Getenv("WAXSEAL_SCALE_N"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}
