package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// PutEnvelopes registers envs, skipping those already registered with the same
// KeyCheck; one conflicting envelope refuses the whole batch.
func (s *Store) PutEnvelopes(ctx context.Context, envs []keyserver.NewEnvelope, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		// Check everything before writing anything, so that a conflict is a
		// refusal and does not redo the batch it shares a commit with.
		fresh, err := newEnvelopes(tx, envs)
		if err != nil {
			return refusal{err}
		}
		payloads := tx.Bucket(bucketPayloads)
		for _, ne := range fresh {
			err := errors.Join(
				put(tx.Bucket(bucketEnvelopes), ne.Record.ID[:], ne.Record),
				reindex(tx, ne.Record.ID, nil, indexedFields(&ne.Record), s.viewLayout),
			)
			if err != nil {
				return fmt.Errorf("put envelope %s: %w", ne.Record.ID, err)
			}
			if len(ne.Payload) > 0 {
				if err := payloads.Put(ne.Record.ID[:], ne.Payload); err != nil {
					return fmt.Errorf("put payload %s: %w", ne.Record.ID, err)
				}
			}
			if len(ne.Record.Ciphertext) > 0 {
				if err := addCiphertextRef(tx, ne.Record.Ciphertext); err != nil {
					return fmt.Errorf("envelope %s: %w", ne.Record.ID, err)
				}
			}
		}
		if err := s.appendAudit(tx, events); err != nil {
			return fmt.Errorf("put envelopes: %w", err)
		}
		return nil
	})
}

// newEnvelopes returns the envelopes of envs not yet stored, or ErrConflict if one
// is stored (or repeated in envs) with another KeyCheck.
func newEnvelopes(tx *bolt.Tx, envs []keyserver.NewEnvelope) ([]keyserver.NewEnvelope, error) {
	b := tx.Bucket(bucketEnvelopes)
	seen := make(map[envelope.ID][]byte, len(envs))
	var fresh []keyserver.NewEnvelope
	for _, ne := range envs {
		id := ne.Record.ID
		if ne.Record.HasPayload != (len(ne.Payload) > 0) {
			return nil, fmt.Errorf("envelope %s: HasPayload is %t with a %d-byte payload", id, ne.Record.HasPayload, len(ne.Payload))
		}
		if len(ne.Record.Ciphertext) > 0 && !ne.Record.HasPayload {
			return nil, fmt.Errorf("envelope %s: a shared ciphertext without a payload head", id)
		}
		check, ok := seen[id]
		if !ok {
			var old keyserver.EnvelopeRecord
			found, err := get(b, id[:], &old)
			if err != nil {
				return nil, fmt.Errorf("envelope %s: %w", id, err)
			}
			check, ok = old.KeyCheck, found
		}
		if ok {
			if !bytes.Equal(check, ne.Record.KeyCheck) {
				return nil, fmt.Errorf("envelope %s with another key: %w", id, keyserver.ErrConflict)
			}
			continue
		}
		if len(ne.Record.Ciphertext) > 0 {
			if err := checkCiphertext(tx, ne.Record.Ciphertext); err != nil {
				return nil, fmt.Errorf("envelope %s: %w", id, err)
			}
		}
		seen[id] = ne.Record.KeyCheck
		fresh = append(fresh, ne)
	}
	return fresh, nil
}

// Envelope returns one envelope.
func (s *Store) Envelope(ctx context.Context, id envelope.ID) (keyserver.EnvelopeRecord, error) {
	var r keyserver.EnvelopeRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getMemo(s.memos.envelopes, tx.Bucket(bucketEnvelopes), id[:], &r)
		if err == nil && !found {
			err = keyserver.ErrNotFound
		}
		return err
	})
	if err != nil {
		return keyserver.EnvelopeRecord{}, fmt.Errorf("envelope %s: %w", id, err)
	}
	return r, nil
}

// UpdateEnvelope changes one envelope with fn, in a commit shared with concurrent
// writes: the key server's hot path.
func (s *Store) UpdateEnvelope(ctx context.Context, id envelope.ID, fn func(*keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error)) (keyserver.EnvelopeRecord, error) {
	var out keyserver.EnvelopeRecord
	err := s.write(ctx, func(tx *bolt.Tx) error {
		var r keyserver.EnvelopeRecord
		found, err := getMemo(s.memos.envelopes, tx.Bucket(bucketEnvelopes), id[:], &r)
		if err != nil {
			return fmt.Errorf("envelope %s: %w", id, err)
		}
		if !found {
			return refusal{fmt.Errorf("envelope %s: %w", id, keyserver.ErrNotFound)}
		}
		// Before fn, which may change the record's slices in place.
		before := indexedFields(&r)
		hadPayload := r.HasPayload
		ciphertext := bytes.Clone(r.Ciphertext)
		events, err := fn(&r)
		if err != nil {
			return refusal{err}
		}
		if err := checkEnvelopeChange(id, hadPayload, &r); err != nil {
			return refusal{err}
		}
		if !bytes.Equal(r.Ciphertext, ciphertext) {
			return refusal{fmt.Errorf("update envelope %s: fn changed the shared ciphertext it references", id)}
		}
		if err := s.writeEnvelopeUpdate(tx, before, hadPayload, &r, events); err != nil {
			return fmt.Errorf("update envelope %s: %w", id, err)
		}
		out = r
		return nil
	})
	if err != nil {
		return keyserver.EnvelopeRecord{}, err
	}
	return out, nil
}

// checkEnvelopeChange refuses changes that fn may not make: the id is the key,
// and a payload can only be stored by PutEnvelopes.
func checkEnvelopeChange(id envelope.ID, hadPayload bool, r *keyserver.EnvelopeRecord) error {
	switch {
	case r.ID != id:
		return fmt.Errorf("update envelope %s: fn changed the id to %s", id, r.ID)
	case r.HasPayload && !hadPayload:
		return fmt.Errorf("update envelope %s: fn set HasPayload, but there is no payload", id)
	}
	return nil
}

func (s *Store) writeEnvelopeUpdate(tx *bolt.Tx, before indexed, hadPayload bool, r *keyserver.EnvelopeRecord, events []keyserver.AuditEvent) error {
	if err := putMemo(s.memos.envelopes, tx.Bucket(bucketEnvelopes), r.ID[:], r); err != nil {
		return err
	}
	// Most updates (a release, a lock) touch no indexed field: skip building keys.
	if after := indexedFields(r); !after.same(before) {
		if err := reindex(tx, r.ID, &before, after, s.viewLayout); err != nil {
			return err
		}
	}
	if hadPayload && !r.HasPayload {
		if err := tx.Bucket(bucketPayloads).Delete(r.ID[:]); err != nil {
			return fmt.Errorf("delete payload: %w", err)
		}
		if len(r.Ciphertext) > 0 {
			if err := dropCiphertextRef(tx, r.Ciphertext); err != nil {
				return err
			}
		}
	}
	return s.appendAudit(tx, events)
}

// indexed is what an envelope's index entries depend on.
type indexed struct {
	sender, recipient string
	created, expires  time.Time // zero expires: never, so not in the expiry index
	hasKey            bool      // a destroyed key needs no sweeping
}

func indexedFields(r *keyserver.EnvelopeRecord) indexed {
	return indexed{r.Sender, r.Recipient, r.Created, r.Expires, len(r.WrappedKey) > 0}
}

func (x indexed) same(y indexed) bool {
	return x.sender == y.sender && x.recipient == y.recipient &&
		x.created.Equal(y.created) && x.expires.Equal(y.expires) && x.hasKey == y.hasKey
}

// envIndex holds an envelope's keys in the index buckets; nil means no entry.
type envIndex struct {
	sender, recipient, created, expiry []byte
}

func (x indexed) keys(id envelope.ID, layout viewLayout) (envIndex, error) {
	sender, err := addrKey(x.sender)
	if err != nil {
		return envIndex{}, fmt.Errorf("sender: %w", err)
	}
	recipient, err := addrKey(x.recipient)
	if err != nil {
		return envIndex{}, fmt.Errorf("recipient: %w", err)
	}
	created := timeKey(x.created)
	if layout != viewsByAddress {
		day := dayKey(dayOf(x.created))
		sender, recipient = join(day, sender), join(day, recipient)
	}
	ix := envIndex{
		sender:    join(sender, created, id[:]),
		recipient: join(recipient, created, id[:]),
		created:   join(created, id[:]),
	}
	if !x.expires.IsZero() && x.hasKey {
		ix.expiry = join(timeKey(x.expires), id[:])
	}
	return ix, nil
}

// reindex moves an envelope's index entries from those of before (nil: a new
// envelope, with none) to those of after, in the views' layout (another than
// viewsByDay only in measurements).
func reindex(tx *bolt.Tx, id envelope.ID, before *indexed, after indexed, layout viewLayout) error {
	var old envIndex
	if before != nil {
		var err error
		if old, err = before.keys(id, layout); err != nil {
			return err
		}
	}
	ix, err := after.keys(id, layout)
	if err != nil {
		return err
	}
	if layout == viewsNone {
		return putIndex(tx.Bucket(bucketEnvByExpiry), old.expiry, ix.expiry)
	}
	return errors.Join(
		putIndex(tx.Bucket(bucketEnvBySender), old.sender, ix.sender),
		putIndex(tx.Bucket(bucketEnvByRecipient), old.recipient, ix.recipient),
		putIndex(tx.Bucket(bucketEnvByCreated), old.created, ix.created),
		putIndex(tx.Bucket(bucketEnvByExpiry), old.expiry, ix.expiry),
	)
}

// ListEnvelopes walks one index backwards (newest first) over the Created range
// of q: the recipient's if q names one (a recipient has far fewer envelopes than
// a sender), else the sender's, else all envelopes. With both, each entry's
// sender is checked by a lookup in the sender's index, so only the records
// returned are decoded.
func (s *Store) ListEnvelopes(ctx context.Context, q keyserver.EnvelopeQuery) ([]keyserver.EnvelopeRecord, error) {
	var out []keyserver.EnvelopeRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		envs := tx.Bucket(bucketEnvelopes)
		take := func(k []byte) (bool, error) {
			if q.Limit > 0 && len(out) == q.Limit {
				return false, nil
			}
			var r keyserver.EnvelopeRecord
			if _, err := get(envs, k[len(k)-idLen:], &r); err != nil {
				return false, err
			}
			out = append(out, r)
			return true, nil
		}
		sp := spanOf(q)
		var sender, recipient []byte
		var err error
		if q.Sender != "" {
			if sender, err = addrKey(q.Sender); err != nil {
				return err
			}
		}
		if q.Recipient != "" {
			if recipient, err = addrKey(q.Recipient); err != nil {
				return err
			}
		}
		bySender := tx.Bucket(bucketEnvBySender)
		switch {
		case recipient != nil && sender != nil:
			return walkDays(tx.Bucket(bucketEnvByRecipient).Cursor(), recipient, sp, func(k []byte) (bool, error) {
				// day recipient position → day sender position
				if bySender.Get(join(k[:dayLen], sender, k[dayLen+len(recipient):])) == nil {
					return true, nil // another sender's
				}
				return take(k)
			})
		case recipient != nil:
			return walkDays(tx.Bucket(bucketEnvByRecipient).Cursor(), recipient, sp, take)
		case sender != nil:
			return walkDays(bySender.Cursor(), sender, sp, take)
		}
		c := tx.Bucket(bucketEnvByCreated).Cursor()
		for k := seekBefore(c, sp.upper); k != nil && bytes.Compare(k, sp.lower) >= 0; k, _ = c.Prev() {
			if more, err := take(k); err != nil || !more {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list envelopes: %w", err)
	}
	return out, nil
}

// span is an EnvelopeQuery's Created range as index positions (time(created)
// id): from lower (nil: the first) up to but not including upper, and the days
// they fall on.
type span struct {
	lower, upper      []byte
	firstDay, lastDay uint32
}

func spanOf(q keyserver.EnvelopeQuery) span {
	sp := span{upper: maxTimeKey, lastDay: math.MaxUint32}
	if !q.Since.IsZero() {
		sp.lower, sp.firstDay = timeKey(q.Since), dayOf(q.Since)
	}
	if !q.Until.IsZero() {
		sp.upper, sp.lastDay = timeKey(q.Until), dayOf(q.Until)
	}
	// The cursor's own key sorts at the cursor: seekBefore starts below it.
	if q.After != nil {
		if after := join(timeKey(q.After.Created), q.After.ID[:]); bytes.Compare(after, sp.upper) < 0 {
			sp.upper, sp.lastDay = after, dayOf(q.After.Created)
		}
	}
	return sp
}

// walkDays calls fn with the keys of a day-partitioned index (day address
// position) that hold addr and a position in sp, newest first, until fn
// returns false. A day costs one seek; days with no entry at all cost nothing,
// since the key found below a day names the next day that has one.
func walkDays(c *bolt.Cursor, addr []byte, sp span, fn func(k []byte) (bool, error)) error {
	day := sp.lastDay
	for {
		prefix := join(dayKey(day), addr)
		upper := join(prefix, maxTimeKey)
		if day == sp.lastDay {
			upper = join(prefix, sp.upper)
		}
		k := seekBefore(c, upper)
		if k == nil {
			return nil
		}
		switch kday := binary.BigEndian.Uint32(k); {
		case kday < sp.firstDay:
			return nil
		case kday < day:
			day = kday // nothing on the days between
			continue
		}
		lower := prefix
		if day == sp.firstDay && sp.lower != nil {
			lower = join(prefix, sp.lower)
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && bytes.Compare(k, lower) >= 0; k, _ = c.Prev() {
			if more, err := fn(k); err != nil || !more {
				return err
			}
		}
		if day == sp.firstDay {
			return nil
		}
		day--
	}
}

// seekBefore positions c on the last key before upper.
func seekBefore(c *bolt.Cursor, upper []byte) []byte {
	if k, _ := c.Seek(upper); k == nil {
		k, _ = c.Last()
		return k
	}
	k, _ := c.Prev()
	return k
}

// ExpiredEnvelopes lists envelopes past Expires whose keys still exist, soonest
// expired first; the expiry index holds only those, so this reads no others.
func (s *Store) ExpiredEnvelopes(ctx context.Context, now time.Time, limit int) ([]envelope.ID, error) {
	var ids []envelope.ID
	end := timeKey(now)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEnvByExpiry).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:timeLen], end) < 0; k, _ = c.Next() {
			if limit > 0 && len(ids) == limit {
				break
			}
			ids = append(ids, envelope.ID(k[timeLen:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expired envelopes: %w", err)
	}
	return ids, nil
}

// Payload returns a copy of an envelope's online blob, assembled from its head
// and the shared ciphertext when it references one: in one read transaction, so
// the two always belong together.
func (s *Store) Payload(ctx context.Context, id envelope.ID) ([]byte, error) {
	var p []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPayloads).Get(id[:])
		if v == nil {
			return keyserver.ErrNotFound
		}
		var r keyserver.EnvelopeRecord
		found, err := getMemo(s.memos.envelopes, tx.Bucket(bucketEnvelopes), id[:], &r)
		if err != nil {
			return err
		}
		if !found || len(r.Ciphertext) == 0 {
			p = bytes.Clone(v) // v lives only as long as the transaction
			return nil
		}
		ct := getCiphertext(tx, r.Ciphertext)
		if ct == nil {
			return fmt.Errorf("shared ciphertext %x missing", r.Ciphertext)
		}
		p = make([]byte, 0, len(v)+len(ct))
		p = append(append(p, v...), ct...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", id, err)
	}
	return p, nil
}
