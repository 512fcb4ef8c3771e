package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// How admin commands print: an aligned table for a person at a terminal, JSON
// lines (one object a line) for everything else, and always with --json.
// Scripts read the JSON lines: they are the stable interface, the table is not.

// isTerminal reports whether w is a terminal (a character device): where a
// person reads. A pipe or a file gets JSON lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// tableFlush bounds what a table holds before it is written out: columns are
// aligned within each block of this many rows, so a long audit log streams in
// bounded memory.
const tableFlush = 500

// table writes rows aligned in columns under a header.
type table struct {
	tw   *tabwriter.Writer
	rows int
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		// A tab or newline in a value (a subject, a detail) would break the
		// columns.
		cells[i] = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, c)
	}
	io.WriteString(t.tw, strings.Join(cells, "\t")+"\n")
	if t.rows++; t.rows%tableFlush == 0 {
		t.tw.Flush()
	}
}

func (t *table) flush() error { return t.tw.Flush() }

// clip shortens s to n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func printEnvelopes(w io.Writer, asTable bool, views []api.EnvelopeView) error {
	if !asTable {
		enc := json.NewEncoder(w)
		for _, v := range views {
			if err := enc.Encode(v); err != nil {
				return err
			}
		}
		return nil
	}
	t := newTable(w, "ID", "STATE", "DELIVERY", "CREATED", "EXPIRES", "SENDER", "RECIPIENT", "OPENS", "SUBJECT")
	for _, v := range views {
		state := v.State
		if v.LockReason != "" {
			state += ": " + clip(v.LockReason, 30)
		}
		t.row(v.ID, state, deliveryCell(v.Delivery), when(v.Created), when(v.Expires), v.Sender, v.Recipient, strconv.Itoa(v.Releases), clip(v.Subject, 40))
	}
	return t.flush()
}

func printAccounts(w io.Writer, asTable bool, accs []api.AccountView) error {
	if !asTable {
		enc := json.NewEncoder(w)
		for _, a := range accs {
			if err := enc.Encode(a); err != nil {
				return err
			}
		}
		return nil
	}
	t := newTable(w, "ID", "EMAIL", "ROLE", "NAME", "SIGN-IN", "CREATED", "LAST USED")
	for _, a := range accs {
		var ways []string
		if a.Password {
			ways = append(ways, "password")
		}
		if a.Passkeys > 0 {
			ways = append(ways, fmt.Sprintf("%d passkey(s)", a.Passkeys))
		}
		if len(ways) == 0 {
			ways = append(ways, "code only")
		}
		if a.Locked {
			ways = append(ways, "locked")
		}
		t.row(a.ID, a.Email, a.Role, strings.TrimSpace(a.FirstName+" "+a.LastName), strings.Join(ways, ", "), when(a.Created), when(a.LastUsed))
	}
	return t.flush()
}

// auditTable is the writer the audit export streams into on a terminal: it
// turns each JSON line into a row.
type auditTable struct {
	t       *table
	partial []byte
	err     error
}

func newAuditTable(w io.Writer) *auditTable {
	return &auditTable{t: newTable(w, "SEQ", "TIME", "ACTOR", "ACTION", "ENVELOPE", "ACCOUNT", "CLIENT", "DETAIL")}
}

func (a *auditTable) Write(p []byte) (int, error) {
	a.partial = append(a.partial, p...)
	for {
		i := bytes.IndexByte(a.partial, '\n')
		if i < 0 {
			break
		}
		a.line(a.partial[:i])
		a.partial = a.partial[i+1:]
	}
	if a.err != nil {
		return 0, a.err
	}
	return len(p), nil
}

func (a *auditTable) line(l []byte) {
	if len(bytes.TrimSpace(l)) == 0 || a.err != nil {
		return
	}
	var r keyserver.AuditRecord
	if err := json.Unmarshal(l, &r); err != nil {
		a.err = fmt.Errorf("audit export: record after %d rows: %w", a.t.rows-1, err)
		return
	}
	a.t.row(strconv.FormatUint(r.Seq, 10), r.Time.Local().Format("2006-01-02 15:04:05"), r.Actor, string(r.Action),
		r.Envelope, r.Account, r.ClientIP, clip(r.Detail, 60))
}

func (a *auditTable) close() error {
	a.line(a.partial)
	a.partial = nil
	if a.err != nil {
		return a.err
	}
	return a.t.flush()
}

// progress reports a long operation's advance on a terminal, rewriting one
// line; it says nothing when w is nil (not a terminal: a log would fill with
// it).
type progress struct {
	w     io.Writer
	what  string
	total int
	shown bool
}

func newProgress(stderr io.Writer, what string, total int) *progress {
	if !isTerminal(stderr) {
		stderr = nil
	}
	return &progress{w: stderr, what: what, total: total}
}

func (p *progress) set(done int) {
	if p.w == nil {
		return
	}
	if p.total > 0 {
		fmt.Fprintf(p.w, "\r%s: %d of %d", p.what, done, p.total)
	} else {
		fmt.Fprintf(p.w, "\r%s: %d", p.what, done)
	}
	p.shown = true
}

// done ends the progress line, so that what follows starts on a line of its own.
func (p *progress) done() {
	if p.w != nil && p.shown {
		io.WriteString(p.w, "\n")
		p.shown = false
	}
}

// deliveryCell is what the next hop did with the copy ("-" before any report),
// with the start of its reply when it did not take it.
func deliveryCell(d *api.Delivery) string {
	if d == nil {
		return "-"
	}
	if d.Detail == "" {
		return d.State
	}
	return d.State + ": " + clip(d.Detail, 40)
}
