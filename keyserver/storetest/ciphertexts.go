package storetest

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// storedCiphertext uploads a random ciphertext of n bytes at upload time t.
func storedCiphertext(t *testing.T, s keyserver.Store, n int, uploaded time.Time) ([32]byte, []byte) {
	t.Helper()
	ct := randBytes(n)
	sum := sha256.Sum256(ct)
	noErr(t, "PutCiphertext", s.PutCiphertext(t.Context(), sum, ct, uploaded))
	settle(t, s)
	return sum, ct
}

// settle makes a write that deletes nothing: PutCiphertext may return before
// the ciphertext is stored, but it is once a write begun after it returns.
func settle(t *testing.T, s keyserver.Store) {
	t.Helper()
	_, err := s.DeleteUnreferencedCiphertexts(t.Context(), base.Add(-1000*time.Hour))
	noErr(t, "DeleteUnreferencedCiphertexts (as a barrier)", err)
}

// referencing is r registered as holding the head of an online blob whose
// ciphertext is the shared one under sum.
func referencing(r keyserver.EnvelopeRecord, sum [32]byte) keyserver.EnvelopeRecord {
	r.HasPayload = true
	r.Ciphertext = sum[:]
	return r
}

func ciphertextGone(t *testing.T, s keyserver.Store, what string, sum [32]byte) {
	t.Helper()
	_, err := s.Ciphertext(t.Context(), sum)
	wantErr(t, what, err, keyserver.ErrNotFound)
}

func testCiphertextRoundTrip(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	sum, ct := storedCiphertext(t, s, 200_000, at(0))
	got, err := s.Ciphertext(ctx, sum)
	noErr(t, "Ciphertext", err)
	if !bytes.Equal(got, ct) {
		t.Fatalf("Ciphertext: got %d bytes, not the %d stored", len(got), len(ct))
	}
	// Idempotent: the same upload again changes nothing.
	noErr(t, "PutCiphertext again", s.PutCiphertext(ctx, sum, ct, at(time.Minute)))
	settle(t, s)
	got, err = s.Ciphertext(ctx, sum)
	noErr(t, "Ciphertext", err)
	if !bytes.Equal(got, ct) {
		t.Error("Ciphertext changed by a repeated upload")
	}
	ciphertextGone(t, s, "Ciphertext unknown", sha256.Sum256([]byte("nothing")))
}

// A ciphertext shared by several envelopes is stored once, each envelope's
// payload is its own head followed by it, and it goes with the last reference.
func testSharedCiphertext(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	sum, ct := storedCiphertext(t, s, 100_000, at(0))
	var recs []keyserver.EnvelopeRecord
	var envs []keyserver.NewEnvelope
	heads := map[string][]byte{}
	for _, rcpt := range []string{"a@example.org", "b@example.org", "c@example.org"} {
		r := referencing(record("alice@example.com", rcpt, at(0)), sum)
		head := randBytes(300)
		heads[r.ID.String()] = head
		recs = append(recs, r)
		envs = append(envs, keyserver.NewEnvelope{Record: r, Payload: head})
	}
	noErr(t, "PutEnvelopes", s.PutEnvelopes(ctx, envs, []keyserver.AuditEvent{event("envelope.register", 1)}))
	// A gateway's retry counts no reference again.
	noErr(t, "PutEnvelopes again", s.PutEnvelopes(ctx, envs, []keyserver.AuditEvent{event("envelope.register", 2)}))

	for _, r := range recs {
		equal(t, "envelope", getEnvelope(t, s, r.ID), r)
		p, err := s.Payload(ctx, r.ID)
		noErr(t, "Payload", err)
		want := append(bytes.Clone(heads[r.ID.String()]), ct...)
		if !bytes.Equal(p, want) {
			t.Errorf("Payload of %s: got %d bytes, want its %d-byte head and the shared ciphertext", r.ID, len(p), len(heads[r.ID.String()]))
		}
	}

	clear := func(r keyserver.EnvelopeRecord) {
		t.Helper()
		_, err := s.UpdateEnvelope(ctx, r.ID, func(rec *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
			rec.WrappedKey, rec.HasPayload = nil, false
			return nil, nil
		})
		noErr(t, "UpdateEnvelope", err)
		_, err = s.Payload(ctx, r.ID)
		wantErr(t, "Payload after it was cleared", err, keyserver.ErrNotFound)
	}
	clear(recs[0])
	clear(recs[1])
	if _, err := s.Ciphertext(ctx, sum); err != nil {
		t.Fatalf("Ciphertext while one envelope still references it: %v", err)
	}
	p, err := s.Payload(ctx, recs[2].ID)
	noErr(t, "Payload of the last envelope", err)
	if !bytes.HasSuffix(p, ct) {
		t.Error("Payload of the last envelope lost its ciphertext")
	}
	// Other updates leave the reference alone.
	_, err = s.UpdateEnvelope(ctx, recs[2].ID, func(rec *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		rec.Releases++
		return nil, nil
	})
	noErr(t, "UpdateEnvelope", err)
	clear(recs[2])
	ciphertextGone(t, s, "Ciphertext after the last reference went", sum)
	// Nor are unreferenced ones left for the sweeper.
	if n, err := s.DeleteUnreferencedCiphertexts(ctx, at(time.Hour)); err != nil || n != 0 {
		t.Errorf("DeleteUnreferencedCiphertexts = %d, %v; want 0, nil", n, err)
	}
}

// A batch referencing a ciphertext that is not stored stores nothing.
func testUnknownCiphertext(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	known, _ := storedCiphertext(t, s, 1000, at(0))
	ok := referencing(record("alice@example.com", "a@example.org", at(0)), known)
	bad := referencing(record("alice@example.com", "b@example.org", at(0)), sha256.Sum256([]byte("never uploaded")))
	before := len(auditLog(t, s))
	err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: ok, Payload: randBytes(100)}, {Record: bad, Payload: randBytes(100)}},
		[]keyserver.AuditEvent{event("envelope.register", 1)})
	wantErr(t, "PutEnvelopes with an unknown ciphertext", err, keyserver.ErrNotFound)
	for _, r := range []keyserver.EnvelopeRecord{ok, bad} {
		_, err := s.Envelope(ctx, r.ID)
		wantErr(t, "Envelope of the refused batch", err, keyserver.ErrNotFound)
	}
	if n := len(auditLog(t, s)); n != before {
		t.Errorf("audit has %d records, want %d", n, before)
	}
	// The known one is still unreferenced: the sweeper takes it.
	if n, err := s.DeleteUnreferencedCiphertexts(ctx, at(time.Hour)); err != nil || n != 1 {
		t.Errorf("DeleteUnreferencedCiphertexts = %d, %v; want 1, nil", n, err)
	}
}

func testUpdateEnvelopeKeepsCiphertext(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	sum, _ := storedCiphertext(t, s, 1000, at(0))
	r := referencing(record("alice@example.com", "a@example.org", at(0)), sum)
	noErr(t, "PutEnvelopes", s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: r, Payload: randBytes(100)}}, nil))
	other := sha256.Sum256([]byte("other"))
	_, err := s.UpdateEnvelope(ctx, r.ID, func(rec *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		rec.Ciphertext = other[:]
		return nil, nil
	})
	if err == nil {
		t.Error("UpdateEnvelope let fn change the shared ciphertext")
	}
	equal(t, "envelope", getEnvelope(t, s, r.ID), r)
}

// Uploads that no registration came to reference are deleted once older than
// the sweeper's cutoff; a repeated upload starts their time again.
func testDeleteUnreferencedCiphertexts(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	orphan, _ := storedCiphertext(t, s, 1000, at(0))
	used, _ := storedCiphertext(t, s, 1000, at(0))
	young, _ := storedCiphertext(t, s, 1000, at(2*time.Hour))
	again, againCT := storedCiphertext(t, s, 1000, at(0))
	noErr(t, "PutCiphertext again", s.PutCiphertext(ctx, again, againCT, at(2*time.Hour)))
	settle(t, s)
	r := referencing(record("alice@example.com", "a@example.org", at(0)), used)
	noErr(t, "PutEnvelopes", s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: r, Payload: randBytes(100)}}, nil))

	n, err := s.DeleteUnreferencedCiphertexts(ctx, at(time.Hour))
	noErr(t, "DeleteUnreferencedCiphertexts", err)
	if n != 1 {
		t.Errorf("DeleteUnreferencedCiphertexts = %d, want 1", n)
	}
	ciphertextGone(t, s, "unreferenced upload", orphan)
	for name, sum := range map[string][32]byte{"referenced": used, "young": young, "uploaded again": again} {
		if _, err := s.Ciphertext(ctx, sum); err != nil {
			t.Errorf("Ciphertext %s: %v", name, err)
		}
	}
	if _, err := s.Payload(ctx, r.ID); err != nil {
		t.Errorf("Payload: %v", err)
	}
}

// A registration right after the upload sees it, with no other write between:
// the gateway's order.
func testRegisterRightAfterUpload(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	for i := range 20 {
		ct := randBytes(50_000 + i)
		sum := sha256.Sum256(ct)
		noErr(t, "PutCiphertext", s.PutCiphertext(ctx, sum, ct, at(0)))
		r := referencing(record("alice@example.com", "a@example.org", at(0)), sum)
		head := randBytes(200)
		noErr(t, "PutEnvelopes", s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: r, Payload: head}}, nil))
		p, err := s.Payload(ctx, r.ID)
		noErr(t, "Payload", err)
		if !bytes.Equal(p, append(head, ct...)) {
			t.Fatal("Payload is not the head and the ciphertext")
		}
	}
}
