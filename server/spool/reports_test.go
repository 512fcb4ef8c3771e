package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func readAll(t *testing.T, s *Spool) ([]string, ReportCursor, int) {
	t.Helper()
	recs, c, damaged, err := s.ReadReports(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, string(r))
	}
	return out, c, damaged
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "reports", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReportsGroupCommit: concurrent appends all reach the log, each once, in
// one segment, and once taken are not read again.
func TestReportsGroupCommit(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.AppendReport(fmt.Appendf(nil, `[{"id":"%02d"}]`, i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, c, damaged := readAll(t, s)
	slices.Sort(got)
	if len(got) != n || damaged != 0 {
		t.Fatalf("%d records, %d damaged; want %d", len(got), damaged, n)
	}
	for i, r := range got {
		if want := fmt.Sprintf(`[{"id":"%02d"}]`, i); r != want {
			t.Fatalf("record %d = %s, want %s", i, r, want)
		}
	}
	if segs := segments(t, dir); len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	if err := s.TakeReports(c); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := readAll(t, s); len(got) != 0 {
		t.Fatalf("%d records read again after they were taken", len(got))
	}
	if err := s.AppendReport([]byte("a\nb")); err == nil {
		t.Fatal("a record with a line feed was accepted")
	}
	if err := s.AppendReport([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := readAll(t, s); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("read %q after the take, want only the new record", got)
	}
}

// TestReportsAcrossRestart: a process that ends without warning (no close, as
// in a crash) leaves every appended record to the next; a torn last write is
// skipped; per-report files of older gateways are read first; what was taken
// before the restart is read again (at least once), and what is taken after it
// is gone for good once its segment is.
func TestReportsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"one", "two", "three"} {
		if err := s.AppendReport([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	recs, c, _, err := s.ReadReports(1)
	if err != nil || len(recs) != 1 || string(recs[0]) != "one" {
		t.Fatalf("ReadReports(1) = %q, %v", recs, err)
	}
	if err := s.TakeReports(c); err != nil {
		t.Fatal(err)
	}
	// The crash: a write torn half-way, and nothing closed.
	seg := segments(t, dir)[0]
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.IndexByte(b, 0)
	if end < 0 || !bytes.HasSuffix(b[:end], []byte(" three\n")) {
		t.Fatalf("the segment does not end its records with a NUL: %q", b)
	}
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("0000abcd fou"), int64(end)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(dir, "reports", "20261101T000000.000000000-00.json"), []byte("legacy"), 0o600); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.AppendReport([]byte("four")); err != nil {
		t.Fatal(err)
	}
	got, c, damaged := readAll(t, s2)
	if want := []string{"legacy", "one", "two", "three", "four"}; !slices.Equal(got, want) || damaged != 1 {
		t.Fatalf("after the restart: %q (%d damaged), want %q and the torn one", got, damaged, want)
	}
	if err := s2.TakeReports(c); err != nil {
		t.Fatal(err)
	}
	// The old segment and the legacy file are gone; the current one stays (not
	// full) but is not read again by this process.
	if segs := segments(t, dir); len(segs) != 1 || segs[0] == seg {
		t.Fatalf("segments %q after the take", segs)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "reports", "*.json")); len(m) != 0 {
		t.Fatalf("legacy files left: %q", m)
	}
	if got, _, _ := readAll(t, s2); len(got) != 0 {
		t.Fatalf("read again: %q", got)
	}
	// Another restart reads the current segment's record again: at least once.
	s3, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := readAll(t, s3); !slices.Equal(got, []string{"four"}) {
		t.Fatalf("after a second restart: %q", got)
	}
}

// TestReportSegments: the log moves to a new segment once one is full, and a
// full segment whose records were all taken is removed, so the log does not
// grow while reports are handed over.
func TestReportSegments(t *testing.T) {
	defer func(n int64) { maxReportSegment = n }(maxReportSegment)
	maxReportSegment = 100
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		if err := s.AppendReport(fmt.Appendf(nil, "record %02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if segs := segments(t, dir); len(segs) < 4 {
		t.Fatalf("%d segments for %d records of 20 bytes, want one per 100 bytes", len(segs), n)
	}
	var all []string
	for {
		recs, c, damaged, err := s.ReadReports(7)
		if err != nil || damaged != 0 {
			t.Fatal(err, damaged)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			all = append(all, string(r))
		}
		if err := s.TakeReports(c); err != nil {
			t.Fatal(err)
		}
	}
	if len(all) != n || all[0] != "record 00" || all[n-1] != fmt.Sprintf("record %02d", n-1) || !slices.IsSorted(all) {
		t.Fatalf("read %d records in order %v, want %d", len(all), all, n)
	}
	if segs := segments(t, dir); len(segs) > 1 {
		t.Fatalf("%d segments left after everything was taken, want at most the one being appended to", len(segs))
	}
}
