//go:build js && wasm

package d1store_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/internal/d1batch"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/d1store"
)

// TestEnvelopeReadAhead: a key release's envelope read with its session
// (WithEnvelopeRead) is used by the update that follows when nothing was
// written in between, and read again when something was: a revoke committed
// between the session read and the release is seen, and no release count is
// lost.
func TestEnvelopeReadAhead(t *testing.T) {
	ctx := t.Context()
	s := open(t).(*d1store.Store)
	now := time.Now().UTC()
	acct := keyserver.Account{ID: "a1", Email: "bob@example.org", Role: keyserver.RoleRecipient, Created: now}
	if err := s.CreateAccount(ctx, acct, nil); err != nil {
		t.Fatal(err)
	}
	hash := make([]byte, 32)
	rand.Read(hash)
	if err := s.PutSession(ctx, keyserver.Session{TokenHash: hash, AccountID: acct.ID, Created: now, LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	rec := keyserver.EnvelopeRecord{ID: envelope.NewID(), Sender: "alice@example.com", Recipient: acct.Email, Created: now,
		WrappedKey: make([]byte, 48), KeyCheck: make([]byte, 32)}
	if err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: rec}}, nil); err != nil {
		t.Fatal(err)
	}
	release := func(ctx context.Context) (keyserver.EnvelopeRecord, error) {
		return s.UpdateEnvelope(ctx, rec.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
			if !r.Revoked.IsZero() {
				return nil, keyserver.ErrRevoked
			}
			r.Releases++
			return []keyserver.AuditEvent{{Time: now, Actor: acct.Email, Action: keyserver.ActionKeyRelease, Envelope: rec.ID.String()}}, nil
		})
	}
	signIn := func() context.Context {
		rctx := d1store.WithEnvelopeRead(ctx, rec.ID)
		if _, a, err := s.SessionAccount(rctx, hash); err != nil || a == nil || a.ID != acct.ID {
			t.Fatalf("SessionAccount: %v, %v", a, err)
		}
		return rctx
	}

	// Nothing in between: the record read ahead is the one updated, and the
	// update costs one D1 batch (its commit), not two.
	d1batch.CountCalls(true)
	defer d1batch.CountCalls(false)
	for want := 1; want <= 2; want++ {
		rctx := signIn()
		d1batch.ReadStats(true)
		got, err := release(rctx)
		if err != nil || got.Releases != want {
			t.Fatalf("release %d: releases %d, %v", want, got.Releases, err)
		}
		if n := d1batch.ReadStats(true).Batches; n != 1 {
			t.Errorf("release %d after its read ahead: %d D1 batches, want 1", want, n)
		}
	}
	// A release without a read ahead between the read and the update: the
	// update reads again and counts on from it.
	rctx := signIn()
	if _, err := release(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := release(rctx); err != nil || got.Releases != 4 {
		t.Fatalf("release after another: releases %d, %v (want 4)", got.Releases, err)
	}
	// A revoke between the read and the update is seen.
	rctx = signIn()
	if _, err := s.UpdateEnvelope(ctx, rec.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.Revoked = now
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := release(rctx); !errors.Is(err, keyserver.ErrRevoked) {
		t.Fatalf("release after a revoke: %v, want ErrRevoked", err)
	}
	// An envelope read ahead that does not exist is not found.
	none := envelope.NewID()
	missing := d1store.WithEnvelopeRead(ctx, none)
	if _, _, err := s.SessionAccount(missing, hash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateEnvelope(missing, none, func(*keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) { return nil, nil }); !errors.Is(err, keyserver.ErrNotFound) {
		t.Fatalf("update of a missing envelope: %v, want ErrNotFound", err)
	}
	got, err := s.Envelope(ctx, rec.ID)
	if err != nil || got.Releases != 4 || got.Revoked.IsZero() {
		t.Fatalf("stored: releases %d, revoked %v, %v", got.Releases, got.Revoked, err)
	}
	if _, _, err := keyserver.VerifyAudit(ctx, s); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
}
