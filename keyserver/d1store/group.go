//go:build js && wasm

package d1store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// UpdateEnvelope is the key server's hot path (every key release), so its
// calls are committed in groups: the goroutine that gets the isolate's write
// turn takes every UpdateEnvelope waiting, reads their envelopes in one query,
// runs their fns one after another on the records as the earlier ones left
// them, chains their audit records, and commits the lot as one batch under
// the version guard. A group costs two round trips to D1 whatever its size;
// one at a time, each update cost two. A fn that fails fails its own call
// only; if the guard fails, the whole group runs again (fn may run more than
// once).

// maxGroup bounds a group: its batch has a few statements per update, and D1
// counts a batch's statements against the invocation's query limit.
const maxGroup = 32

type envUpdate struct {
	id   envelope.ID
	pre  *envelopeRead // the record read ahead with the session, if any (prefetch.go)
	fn   func(*keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error)
	out  keyserver.EnvelopeRecord
	err  error
	done chan struct{}
}

type envQueue struct {
	mu sync.Mutex
	q  []*envUpdate
}

// UpdateEnvelope changes one envelope with fn.
func (s *Store) UpdateEnvelope(ctx context.Context, id envelope.ID, fn func(*keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error)) (keyserver.EnvelopeRecord, error) {
	if err := ctx.Err(); err != nil {
		return keyserver.EnvelopeRecord{}, err
	}
	u := &envUpdate{id: id, pre: envelopeReadFrom(ctx), fn: fn, done: make(chan struct{})}
	s.envs.mu.Lock()
	s.envs.q = append(s.envs.q, u)
	s.envs.mu.Unlock()
	for {
		select {
		case <-u.done:
			return u.out, u.err
		case s.writing <- struct{}{}:
			s.runEnvelopeGroup(ctx)
			s.unlockWrites()
		case <-ctx.Done():
			if s.envs.remove(u) {
				return keyserver.EnvelopeRecord{}, ctx.Err()
			}
			<-u.done // a group has it: wait for its outcome
			return u.out, u.err
		}
	}
}

func (q *envQueue) remove(u *envUpdate) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, v := range q.q {
		if v == u {
			q.q = append(q.q[:i], q.q[i+1:]...)
			return true
		}
	}
	return false
}

func (q *envQueue) take() []*envUpdate {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.q), maxGroup)
	g := q.q[:n:n]
	q.q = q.q[n:]
	return g
}

// putBack returns updates a group did not reach to the head of the queue.
func (q *envQueue) putBack(us []*envUpdate) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.q = append(append([]*envUpdate(nil), us...), q.q...)
}

// runEnvelopeGroup commits the group at the head of the queue. The caller
// holds the write turn. The group's D1 calls do not stop with the leader's
// context: they carry other callers' updates; a timeout bounds them instead.
func (s *Store) runEnvelopeGroup(ctx context.Context) {
	g := s.envs.take()
	if len(g) == 0 {
		return
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
	defer cancel()
	rest, err := s.envelopeGroup(gctx, g)
	if err != nil {
		for _, u := range g {
			u.err = err
		}
	}
	for _, u := range g[:len(g)-len(rest)] {
		close(u.done)
	}
	s.envs.putBack(rest)
}

// groupTimeout bounds one group's reads, batch and retries.
const groupTimeout = 30 * time.Second

// envelopeGroup runs and commits g; it returns the tail of g it left for the
// next group (after an update that dropped a shared ciphertext reference, whose
// count a later update must read from D1).
func (s *Store) envelopeGroup(ctx context.Context, g []*envUpdate) ([]*envUpdate, error) {
	backoff := minBackoff
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var data map[string]string
		if attempt == 0 {
			data = s.readAhead(g)
		}
		w, h, err := s.begin(ctx)
		if err != nil {
			return nil, err
		}
		if data == nil {
			if data, err = w.envelopeData(g); err != nil {
				return nil, err
			}
		}
		var rest []*envUpdate
		for i, u := range g {
			dropped, err := w.applyEnvelopeUpdate(u, data)
			u.err = err
			if dropped && i+1 < len(g) {
				rest = g[i+1:]
				break
			}
		}
		retry, err := s.commit(ctx, w, h, &backoff)
		if err != nil {
			return nil, err
		}
		if !retry {
			for _, f := range w.after {
				f(ctx)
			}
			return rest, nil
		}
	}
	return nil, fmt.Errorf("d1store: write: %d attempts met other writes", maxAttempts)
}

// readAhead returns the records of g's envelopes, JSON by hex id, if every
// update of g brought its record read ahead at the write version this
// isolate will guard on (so that nothing was written between that read and
// the commit if the guard holds), else nil: the group reads them. A head read
// ahead that is newer than the one this isolate knows (another isolate wrote)
// is adopted, and the records read at it are used. The caller holds the
// write turn.
func (s *Store) readAhead(g []*envUpdate) map[string]string {
	type ahead struct {
		found bool
		data  string
		head  head
	}
	got := make([]ahead, len(g))
	ok := true
	for i, u := range g {
		found, d, h, took := u.pre.take(u.id)
		if !took {
			ok = false
			continue
		}
		got[i] = ahead{found, d, h}
		if !s.head.known || h.ver > s.head.ver {
			s.head = h
		}
	}
	if !ok {
		return nil
	}
	data := make(map[string]string, len(g))
	for i, u := range g {
		if got[i].head.ver != s.head.ver {
			return nil
		}
		if k := hx(u.id[:]); got[i].found {
			data[k] = got[i].data
		}
	}
	return data
}

// envelopeData reads the records of g's envelopes, JSON by hex id.
func (w *wtx) envelopeData(g []*envUpdate) (map[string]string, error) {
	ids := map[string]bool{}
	var args []any
	for _, u := range g {
		if k := hx(u.id[:]); !ids[k] {
			ids[k] = true
			args = append(args, k)
		}
	}
	rows, err := w.query("SELECT id, data FROM envelopes WHERE id IN ("+placeholders(len(args))+")", args...)
	if err != nil {
		return nil, fmt.Errorf("read %d envelopes: %w", len(args), err)
	}
	data := make(map[string]string, len(rows))
	for _, r := range rows {
		data[r.str("id")] = r.str("data")
	}
	return data, nil
}

// applyEnvelopeUpdate runs u.fn on the record as data holds it and adds the
// writes to w, updating data; it reports whether the update dropped a shared
// ciphertext reference.
func (w *wtx) applyEnvelopeUpdate(u *envUpdate, data map[string]string) (bool, error) {
	u.out = keyserver.EnvelopeRecord{}
	key := hx(u.id[:])
	enc, ok := data[key]
	if !ok {
		return false, fmt.Errorf("envelope %s: %w", u.id, keyserver.ErrNotFound)
	}
	var r keyserver.EnvelopeRecord
	if err := decode(enc, &r); err != nil {
		return false, fmt.Errorf("envelope %s: %w", u.id, err)
	}
	hadPayload := r.HasPayload
	ciphertext := bytes.Clone(r.Ciphertext)
	events, err := u.fn(&r)
	if err != nil {
		return false, err
	}
	switch {
	case r.ID != u.id:
		return false, fmt.Errorf("update envelope %s: fn changed the id to %s", u.id, r.ID)
	case r.HasPayload && !hadPayload:
		return false, fmt.Errorf("update envelope %s: fn set HasPayload, but there is no payload", u.id)
	case !bytes.Equal(r.Ciphertext, ciphertext):
		return false, fmt.Errorf("update envelope %s: fn changed the shared ciphertext it references", u.id)
	}
	newData, err := encode(&r)
	if err != nil {
		return false, err
	}
	// Nothing of this update is in w until here: a failed fn left it
	// untouched, and undo takes out what it added if a later step fails.
	nStmts, nAudit, nAfter, prevHead := len(w.stmts), len(w.audit), len(w.after), w.head
	undo := func(err error) (bool, error) {
		w.stmts, w.audit, w.after, w.head = w.stmts[:nStmts], w.audit[:nAudit], w.after[:nAfter], prevHead
		return false, err
	}
	w.exec("UPDATE envelopes SET sender = ?, recipient = ?, created = ?, expiry = ?, data = ? WHERE id = ?",
		r.Sender, r.Recipient, timeKey(r.Created), expiryKey(&r), newData, key)
	dropped := false
	if hadPayload && !r.HasPayload {
		if err := w.dropPayload(key); err != nil {
			return undo(err)
		}
		if len(r.Ciphertext) > 0 {
			if err := w.dropCiphertextRef(r.Ciphertext); err != nil {
				return undo(err)
			}
			dropped = true
		}
	}
	if err := w.appendAudit(events); err != nil {
		return undo(err)
	}
	data[key] = newData
	u.out = r
	return dropped, nil
}
