package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver/api"
)

// TestEnvelopeTable: columns line up whatever the widths, a lock reason shows
// with the state, and a tab in a subject does not break the columns.
func TestEnvelopeTable(t *testing.T) {
	created := time.Date(2026, 11, 22, 9, 0, 0, 0, time.Local)
	views := []api.EnvelopeView{
		{ID: "0123", State: "active", Created: created, Sender: "alice@hospital.example", Recipient: "bo@x.io", Subject: "Results", Releases: 2},
		{ID: "4567", State: "locked", LockReason: "Wrong patient", Created: created, Sender: "al@h.example", Recipient: "carol@clinic.example", Subject: "Tab\there",
			Delivery: &api.Delivery{State: "refused", Detail: "550 5.1.1 no such user", At: created}},
	}
	var b bytes.Buffer
	if err := printEnvelopes(&b, true, views); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want a header and 2 rows:\n%s", len(lines), b.String())
	}
	col := strings.Index(lines[0], "SENDER")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "al") {
			t.Fatalf("SENDER column not aligned at %d:\n%s", col, b.String())
		}
	}
	if !strings.Contains(lines[2], "locked: Wrong patient") || !strings.Contains(lines[2], "refused: 550 5.1.1 no such user") ||
		!strings.Contains(lines[1], " - ") || strings.Contains(b.String(), "\t") {
		t.Fatalf("row 2: %q", lines[2])
	}

	b.Reset()
	if err := printEnvelopes(&b, false, views); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n != 2 || !strings.HasPrefix(b.String(), `{"id":"0123",`) {
		t.Fatalf("JSON lines: %q", b.String())
	}
}

// TestAuditTable: records split across writes become one row each, and a line
// that is not a record is an error, not a silently short table.
func TestAuditTable(t *testing.T) {
	export := `{"seq":1,"time":"2026-11-22T09:00:00Z","actor":"gateway","action":"envelope.register","envelope":"0123","prev":"","hash":""}
{"seq":2,"time":"2026-11-22T09:01:00Z","actor":"admin","action":"envelope.revoke","envelope":"0123","detail":"bulk","prev":"","hash":""}
`
	var b bytes.Buffer
	at := newAuditTable(&b)
	for i := 0; i < len(export); i += 7 {
		at.Write([]byte(export[i:min(i+7, len(export))]))
	}
	if err := at.close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "2 ") || !strings.Contains(lines[2], "envelope.revoke") || !strings.HasSuffix(lines[2], "bulk") {
		t.Fatalf("table:\n%s", b.String())
	}

	at = newAuditTable(&b)
	at.Write([]byte("{\"seq\":1}\nnot json\n"))
	if err := at.close(); err == nil {
		t.Fatal("a broken export printed as a table without an error")
	}
}

// TestProgressOnlyOnTerminal: a log or a pipe gets no progress lines.
func TestProgressOnlyOnTerminal(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, "revoking", 10)
	p.set(5)
	p.done()
	if b.Len() != 0 {
		t.Fatalf("progress written to a buffer: %q", b.String())
	}
	p = &progress{w: &b, what: "revoking", total: 10}
	p.set(5)
	p.set(10)
	p.done()
	if b.String() != "\rrevoking: 5 of 10\rrevoking: 10 of 10\n" {
		t.Fatalf("progress: %q", b.String())
	}
}
