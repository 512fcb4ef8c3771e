package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/keyserver"
)

// auditChunk is how many records Audit reads per transaction.
const auditChunk = 256

// appendAudit chains events after the last stored record and stores them, inside
// the caller's transaction, so that they commit or vanish with its change.
func (s *Store) appendAudit(tx *bolt.Tx, events []keyserver.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	prev, err := s.auditHead(tx)
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketAudit)
	b.FillPercent = 1 // append-only: keys only ever grow, so pack pages full
	for _, ev := range events {
		// UTC, so that the hashed JSON does not depend on the caller's zone and a
		// record reads back exactly as it was hashed.
		ev.Time = ev.Time.UTC()
		r := keyserver.ChainAudit(prev, ev)
		if err := put(b, seqKey(r.Seq), r); err != nil {
			return fmt.Errorf("put audit %d: %w", r.Seq, err)
		}
		prev = &r
	}
	s.txHead = chainEnd{rec: prev, known: true}
	return nil
}

// chainEnd is the audit chain's last record (nil if there is none) if known.
type chainEnd struct {
	rec   *keyserver.AuditRecord
	known bool
}

// auditHead returns the last audit record in tx, a write transaction of the
// committer's. The committer starts each transaction knowing the end of the chain
// as its last commit left it, and appendAudit keeps that up to date, so the last
// record is read and decoded only after a failed commit, or once after Open:
// decoding it was a fifth of the hot path.
func (s *Store) auditHead(tx *bolt.Tx) (*keyserver.AuditRecord, error) {
	if s.txHead.known {
		return s.txHead.rec, nil
	}
	k, v := tx.Bucket(bucketAudit).Cursor().Last()
	if k == nil {
		s.txHead = chainEnd{known: true}
		return nil, nil
	}
	var r keyserver.AuditRecord
	if err := decode(k, v, &r); err != nil {
		return nil, fmt.Errorf("last audit record: %w", err)
	}
	s.txHead = chainEnd{rec: &r, known: true}
	return &r, nil
}

// AppendAudit appends events that belong to no other change.
func (s *Store) AppendAudit(ctx context.Context, events []keyserver.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *bolt.Tx) error {
		return s.appendAudit(tx, events)
	})
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// Audit calls fn for each record from seq from onwards. Records are read a chunk
// per transaction and fn runs outside any: a slow reader (an export streamed to a
// browser) then pins no old pages and blocks no remap, and fn may itself call the
// store. The log is append-only, so the chunks still read as one consistent log.
func (s *Store) Audit(ctx context.Context, from uint64, fn func(keyserver.AuditRecord) (bool, error)) error {
	for {
		chunk, err := s.auditChunk(ctx, from)
		if err != nil {
			return err
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

func (s *Store) auditChunk(ctx context.Context, from uint64) ([]keyserver.AuditRecord, error) {
	var chunk []keyserver.AuditRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(seqKey(from)); k != nil && len(chunk) < auditChunk; k, v = c.Next() {
			var r keyserver.AuditRecord
			if err := decode(k, v, &r); err != nil {
				return err
			}
			if r.Seq != binary.BigEndian.Uint64(k) {
				return fmt.Errorf("audit record under key %d holds seq %d", binary.BigEndian.Uint64(k), r.Seq)
			}
			chunk = append(chunk, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit from %d: %w", from, err)
	}
	return chunk, nil
}
