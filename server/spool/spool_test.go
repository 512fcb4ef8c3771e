package spool

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPutListUpdateRemove(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, err := s.Put(Entry{From: "a@x.example", To: []string{"b@y.example"}, RequireTLS: true, Kind: "original", NextAttempt: now.Add(time.Hour)}, []byte("msg a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Put(Entry{From: "a@x.example", To: []string{"c@y.example"}, Kind: "envelope", NextAttempt: now.Add(-time.Second)}, []byte("msg b"))
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.List()
	if err != nil || len(all) != 2 || all[0].ID != a.ID || !all[0].RequireTLS {
		t.Fatalf("List: %+v %v", all, err)
	}
	due, _ := s.Due(now)
	if len(due) != 1 || due[0].ID != b.ID {
		t.Fatalf("Due: %+v", due)
	}
	if m, err := s.Message(b.ID); err != nil || string(m) != "msg b" {
		t.Fatalf("Message: %q %v", m, err)
	}
	b.Attempts, b.NextAttempt, b.LastError = 2, now.Add(time.Hour), "451 later"
	if err := s.Update(b); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.Due(now); len(due) != 0 {
		t.Fatalf("still due after Update: %+v", due)
	}
	if err := s.Remove(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(a); err == nil {
		t.Error("Update of a removed entry succeeded")
	}
	// Reopening keeps what was there, including the update.
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	all, _ = s2.List()
	if len(all) != 1 || all[0].ID != b.ID || all[0].Attempts != 2 || all[0].LastError != "451 later" {
		t.Fatalf("after reopen: %+v", all)
	}
}

// TestOpenClearsInterruptedPuts: a message file without its entry (a Put cut off
// by a crash, whose client got no 250) and temporary files are removed.
func TestOpenClearsInterruptedPuts(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"20260101T000000.000000-orphan.eml", ".tmp-123"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{not json"), 0o600)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 1 {
		t.Fatalf("left: %v", left)
	}
	if _, err := s.List(); err == nil {
		t.Error("an unreadable entry is not reported")
	}
}
