//go:build js && wasm

package d1store

import (
	"context"
	"sync"

	"github.com/waxseal/waxseal/envelope"
)

// A key release costs the key server two store calls in turn: the session
// with its account (signing in), then UpdateEnvelope. On D1 each was a round
// trip of its own before the guarded batch: three per release, each several
// milliseconds (docs/BENCHMARKS.md, Workers). WithEnvelopeRead lets the first
// read carry the second: SessionAccount, given a context from it, reads the
// envelope and the write version in the same batch (one consistent read), and
// the group that commits the update uses that record instead of reading it
// again, provided it was read at the very version the group's guard checks.
// The guard then proves no write came between the read and the commit, as it
// does for the group's own read; a record read at another version is read
// again, as before.

type prefetchKey struct{}

// envelopeRead is an envelope record read ahead, with the head it was read at.
type envelopeRead struct {
	id envelope.ID

	mu    sync.Mutex
	done  bool // read; the fields below are set
	used  bool // handed to an update already: a second update reads afresh
	found bool
	data  string
	head  head
}

// WithEnvelopeRead returns ctx asking the store to read envelope id along
// with the caller's session (SessionAccount), for an UpdateEnvelope of id
// that follows with the same ctx (a key release).
func WithEnvelopeRead(ctx context.Context, id envelope.ID) context.Context {
	return context.WithValue(ctx, prefetchKey{}, &envelopeRead{id: id})
}

func envelopeReadFrom(ctx context.Context) *envelopeRead {
	p, _ := ctx.Value(prefetchKey{}).(*envelopeRead)
	return p
}

// take returns the record read ahead for id, once, if it was read.
func (p *envelopeRead) take(id envelope.ID) (found bool, data string, h head, ok bool) {
	if p == nil || p.id != id {
		return false, "", head{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done || p.used {
		return false, "", head{}, false
	}
	p.used = true
	return p.found, p.data, p.head, true
}

func (p *envelopeRead) set(found bool, data string, h head) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.found, p.data, p.head = true, found, data, h
}
