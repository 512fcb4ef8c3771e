package sqlstore

import (
	"context"
	"fmt"

	"github.com/waxseal/waxseal/keyserver"
)

// auditChunk is how many records Audit reads per query.
const auditChunk = 256

// appendAudit chains events after the head the transaction locked and inserts
// them; the committer writes the new head back before commit.
func (w *wtx) appendAudit(events []keyserver.AuditEvent) error {
	for _, ev := range events {
		ev.Time = ev.Time.UTC()
		r := keyserver.ChainAudit(w.head, ev)
		data, err := encode(r)
		if err != nil {
			return err
		}
		if _, err := w.exec("INSERT INTO audit (seq, data) VALUES (?, ?)", int64(r.Seq), data); err != nil {
			return fmt.Errorf("put audit %d: %w", r.Seq, err)
		}
		w.head = &keyserver.AuditRecord{Seq: r.Seq, Hash: r.Hash}
		w.appended = true
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
