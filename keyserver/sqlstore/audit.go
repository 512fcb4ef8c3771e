package sqlstore

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/waxseal/waxseal/keyserver"
)

// auditChunk is how many records Audit reads per query.
const auditChunk = 256

// appendAudit chains events after the head the transaction locked. The records
// are inserted by flushAudit at the end of the transaction, many to a
// statement: one round trip for a group's audit records rather than one each.
// Nothing in a write transaction reads the audit table, so deferring them
// changes no outcome.
func (w *wtx) appendAudit(events []keyserver.AuditEvent) error {
	for _, ev := range events {
		ev.Time = ev.Time.UTC()
		r := keyserver.ChainAudit(w.head, ev)
		data, err := encode(r)
		if err != nil {
			return err
		}
		w.audit = append(w.audit, int64(r.Seq), data)
		w.head = &keyserver.AuditRecord{Seq: r.Seq, Hash: r.Hash}
	}
	return nil
}

// auditRowsPerInsert keeps a statement's parameters well within both
// databases' limits (SQLite's 32766, PostgreSQL's 65535).
const auditRowsPerInsert = 500

// flushAudit inserts the records appendAudit chained, and moves the head.
func (w *wtx) flushAudit() error {
	if len(w.audit) == 0 {
		return nil
	}
	for rows := w.audit; len(rows) > 0; {
		n := min(len(rows)/2, auditRowsPerInsert)
		q := "INSERT INTO audit (seq, data) VALUES " + strings.Repeat("(?, ?), ", n-1) + "(?, ?)"
		if _, err := w.exec(q, rows[:2*n]...); err != nil {
			return fmt.Errorf("insert audit records: %w", err)
		}
		rows = rows[2*n:]
	}
	if _, err := w.exec("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", int64(w.head.Seq), w.head.Hash); err != nil {
		return fmt.Errorf("update audit head: %w", err)
	}
	return nil
}

// AppendAudit appends events that belong to no other change.
func (s *Store) AppendAudit(ctx context.Context, events []keyserver.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	if err := s.write(ctx, func(w *wtx) error { return w.appendAudit(events) }); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// Audit calls fn for each record from seq from onwards, a chunk per query, with
// fn running outside any: it may call the store.
func (s *Store) Audit(ctx context.Context, from uint64, fn func(keyserver.AuditRecord) (bool, error)) error {
	if from > math.MaxInt64 {
		return nil
	}
	for {
		chunk, err := collect(ctx, s, fmt.Sprintf("SELECT data FROM audit WHERE seq >= ? ORDER BY seq LIMIT %d", auditChunk),
			[]any{int64(from)}, func(data []byte) (keyserver.AuditRecord, error) {
				var r keyserver.AuditRecord
				return r, decode(data, &r)
			})
		if err != nil {
			return fmt.Errorf("read audit from %d: %w", from, err)
		}
		for _, r := range chunk {
			more, err := fn(r)
			if err != nil || !more {
				return err
			}
		}
		if len(chunk) < auditChunk {
			return nil
		}
		from = chunk[len(chunk)-1].Seq + 1
	}
}
