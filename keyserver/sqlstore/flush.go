package sqlstore

import (
	"fmt"
	"strings"
)

// flush writes what a write transaction changed: its envelopes, its audit
// records and the audit head. On PostgreSQL, when they fit, that is one
// statement (the envelopes' update and the head's as data-modifying WITH
// clauses of the audit insert), one round trip instead of three for every
// group commit; the statements touch different tables, so running them on one
// snapshot changes nothing. Otherwise, and on SQLite, one statement each.
func (w *wtx) flush() error {
	q, args, ok := w.flushStatement()
	if !ok {
		return w.flushSeparately()
	}
	if _, err := w.exec(q, args...); err != nil {
		return fmt.Errorf("write envelopes and audit records: %w", err)
	}
	w.flushed()
	return nil
}

// flushStatement is flush's one statement on PostgreSQL (with ? placeholders),
// or !ok when the changes do not fit one or the store is on SQLite. The
// pipelined commit (pipeline.go) sends it with the COMMIT; the caller calls
// flushed once it has run.
func (w *wtx) flushStatement() (query string, args []any, ok bool) {
	if w.s.driver != Postgres {
		return "", nil, false
	}
	var dirty []*envState
	for _, st := range w.envs {
		if st.dirty {
			dirty = append(dirty, st)
		}
	}
	rows := len(w.audit) / 2
	if rows == 0 || rows > auditRowsPerInsert || len(dirty) > 500 {
		return "", nil, false
	}
	var q strings.Builder
	q.WriteString("WITH ")
	if len(dirty) > 0 {
		values := make([]string, len(dirty))
		for i, st := range dirty {
			r := &st.rec
			values[i] = "(?::bytea, ?::text, ?::text, ?::text, ?::text, ?::text)"
			args = append(args, r.ID[:], r.Sender, r.Recipient, timeKey(r.Created), expiryKey(r), string(st.data))
		}
		q.WriteString("env AS (UPDATE envelopes AS e SET sender = v.sender, recipient = v.recipient, created = v.created, expiry = v.expiry, data = v.data FROM (VALUES ")
		q.WriteString(strings.Join(values, ", "))
		q.WriteString(") AS v (id, sender, recipient, created, expiry, data) WHERE e.id = v.id), ")
	}
	q.WriteString("h AS (UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1) INSERT INTO audit (seq, data) VALUES ")
	args = append(args, int64(w.head.Seq), w.head.Hash)
	q.WriteString(strings.Repeat("(?, ?), ", rows-1) + "(?, ?)")
	args = append(args, w.audit...)
	return q.String(), args, true
}

// flushed marks what flushStatement wrote as written.
func (w *wtx) flushed() {
	for _, st := range w.envs {
		st.dirty = false
	}
	w.audit = w.audit[:0]
}

func (w *wtx) flushSeparately() error {
	if err := w.flushEnvelopes(); err != nil {
		return err
	}
	return w.flushAudit()
}
