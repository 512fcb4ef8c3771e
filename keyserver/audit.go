package keyserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
)

// ChainAudit turns an event into the record that follows prev (nil before the first
// record). Stores call it inside the transaction that appends, so records are
// numbered and chained in commit order.
func ChainAudit(prev *AuditRecord, ev AuditEvent) AuditRecord {
	// UTC, so the hashed JSON is the same whatever zone a store reads times back in.
	ev.Time = ev.Time.UTC()
	r := AuditRecord{Seq: 1, AuditEvent: ev, Prev: make([]byte, sha256.Size)}
	if prev != nil {
		r.Seq = prev.Seq + 1
		r.Prev = prev.Hash
	}
	r.Hash = auditHash(r)
	return r
}

// auditHash is SHA-256 over the previous hash and the record's canonical JSON
// without its hash.
func auditHash(r AuditRecord) []byte {
	r.Hash = nil
	body, _ := json.Marshal(r)
	h := sha256.New()
	h.Write(r.Prev)
	h.Write(body)
	return h.Sum(nil)
}

// AuditVerifier checks records one at a time, in order.
type AuditVerifier struct {
	prev  *AuditRecord
	Count uint64
}

// Check verifies the next record: its number, its link to the previous record, and
// its own hash.
func (v *AuditVerifier) Check(r AuditRecord) error {
	wantSeq, wantPrev := uint64(1), make([]byte, sha256.Size)
	if v.prev != nil {
		wantSeq, wantPrev = v.prev.Seq+1, v.prev.Hash
	}
	switch {
	case r.Seq != wantSeq:
		return fmt.Errorf("audit record %d: expected record %d: a record was deleted or inserted", r.Seq, wantSeq)
	case !bytes.Equal(r.Prev, wantPrev):
		return fmt.Errorf("audit record %d: does not follow record %d: the chain was broken", r.Seq, wantSeq-1)
	case !bytes.Equal(r.Hash, auditHash(r)):
		return fmt.Errorf("audit record %d: hash mismatch: the record was edited", r.Seq)
	}
	v.prev = &r
	v.Count++
	return nil
}
