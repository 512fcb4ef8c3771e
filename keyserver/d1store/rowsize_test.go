//go:build js && wasm

package d1store_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/d1store"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newEnvelope(payload []byte) keyserver.NewEnvelope {
	return keyserver.NewEnvelope{Record: keyserver.EnvelopeRecord{
		ID: envelope.NewID(), Sender: "alice@example.com", Recipient: "bob@example.org",
		Created: time.Now(), WrappedKey: randomBytes(48), KeyCheck: randomBytes(32), HasPayload: true,
	}, Payload: payload}
}

// TestLargePayloads: payloads at the inline limit stay in D1, larger ones (a
// 1.5 MB one is 3 MB as hex, over D1's row limit) go to R2; all round-trip,
// and clearing the payload deletes its R2 object.
func TestLargePayloads(t *testing.T) {
	ctx := t.Context()
	s := open(t).(*d1store.Store)
	atLimit, over, large := newEnvelope(randomBytes(d1store.InlinePayload)), newEnvelope(randomBytes(d1store.InlinePayload+1)), newEnvelope(randomBytes(1500_000))
	if err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{atLimit, over, large}, nil); err != nil {
		t.Fatal(err)
	}
	for _, ne := range []keyserver.NewEnvelope{atLimit, over, large} {
		got, err := s.Payload(ctx, ne.Record.ID)
		if err != nil {
			t.Fatalf("Payload of %d bytes: %v", len(ne.Payload), err)
		}
		if !bytes.Equal(got, ne.Payload) {
			t.Fatalf("Payload of %d bytes came back as %d other bytes", len(ne.Payload), len(got))
		}
	}
	key := d1store.PayloadKey(large.Record.ID, large.Payload)
	if ok, err := s.HasObject(key); err != nil || !ok {
		t.Fatalf("the 1.5 MB payload is not in R2 under %s (%v)", key, err)
	}
	if ok, _ := s.HasObject(d1store.PayloadKey(atLimit.Record.ID, atLimit.Payload)); ok {
		t.Fatal("a payload at the inline limit went to R2")
	}
	if _, err := s.UpdateEnvelope(ctx, large.Record.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.HasPayload = false
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Payload(ctx, large.Record.ID); !errors.Is(err, keyserver.ErrNotFound) {
		t.Fatalf("Payload after clearing: %v, want ErrNotFound", err)
	}
	if ok, err := s.HasObject(key); err != nil || ok {
		t.Fatalf("the cleared payload's R2 object is still there (%v)", err)
	}
}

// TestRowLimit: a record just under D1's row limit is stored; one over it is
// refused before D1 sees it, with ErrRowTooLarge, and nothing is written.
func TestRowLimit(t *testing.T) {
	ctx := t.Context()
	s := open(t).(*d1store.Store)
	reply := func(sealed int) keyserver.StoredReply {
		return keyserver.StoredReply{ID: base64.RawURLEncoding.EncodeToString(randomBytes(16)), Envelope: envelope.NewID(),
			Account: "acc", From: "bob@example.org", Kind: "reply", Created: time.Now(), Sealed: randomBytes(sealed)}
	}
	// Sealed is base64 in the record: 3 bytes take 4; 1,000 bytes of room
	// for the rest of the record and its envelope id.
	under := reply((d1store.MaxRowBytes - 1000) / 4 * 3)
	if err := s.PutReply(ctx, under, nil); err != nil {
		t.Fatalf("a reply just under the row limit: %v", err)
	}
	got, err := s.RepliesOf(ctx, under.Envelope)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Sealed, under.Sealed) {
		t.Fatalf("the reply under the limit did not round-trip (%v)", err)
	}
	over := reply(d1store.MaxRowBytes / 4 * 3)
	err = s.PutReply(ctx, over, nil)
	if !errors.Is(err, d1store.ErrRowTooLarge) {
		t.Fatalf("a reply over the row limit: %v, want ErrRowTooLarge", err)
	}
	if got, _ := s.RepliesOf(ctx, over.Envelope); len(got) != 0 {
		t.Fatal("the refused reply was stored")
	}
}
