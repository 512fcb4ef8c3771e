package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

func storedReply(env envelope.ID, n int, created time.Time) keyserver.StoredReply {
	return keyserver.StoredReply{
		ID: fmt.Sprintf("%032x", n), Envelope: env, Account: "acct", From: "bob@example.org", Name: "Bob Patient",
		Kind: keyserver.ReplyKindReply, Created: created, Size: 100, Sealed: randBytes(100),
	}
}

// testReplies pins ReplyStore: round trip with its audit events, conflicts,
// due order and leases, updates that end a reply's pending state, listing and
// deleting an envelope's replies.
func testReplies(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	envA, envB := envelope.NewID(), envelope.NewID()
	r1, r2, r3 := storedReply(envA, 1, at(2*time.Minute)), storedReply(envA, 2, at(time.Minute)), storedReply(envB, 3, at(3*time.Minute))
	r3.Kind, r3.ForwardTo = keyserver.ReplyKindForward, "carol@example.com"
	for _, r := range []keyserver.StoredReply{r1, r2, r3} {
		noErr(t, "PutReply", s.PutReply(ctx, r, []keyserver.AuditEvent{{Time: r.Created, Actor: r.From, Action: "reply.store", Envelope: r.Envelope.String()}}))
	}
	wantErr(t, "PutReply again", s.PutReply(ctx, r1, nil), keyserver.ErrConflict)
	if n := len(auditLog(t, s)); n != 3 {
		t.Errorf("%d audit records after three replies, want 3", n)
	}

	due, err := s.DueReplies(ctx, at(time.Hour), 10)
	noErr(t, "DueReplies", err)
	equal(t, "due replies, oldest first", due, []keyserver.StoredReply{r2, r1, r3})
	due, err = s.DueReplies(ctx, at(time.Hour), 2)
	noErr(t, "DueReplies limit", err)
	equal(t, "due replies, limit 2", due, []keyserver.StoredReply{r2, r1})

	// A lease moves the next attempt; the reply is not due until it ends.
	leased, err := s.UpdateReply(ctx, r2.ID, func(r *keyserver.StoredReply) ([]keyserver.AuditEvent, error) {
		r.NextAttempt, r.LeaseHash = at(2*time.Hour), []byte("lease")
		return nil, nil
	})
	noErr(t, "UpdateReply lease", err)
	if !leased.NextAttempt.Equal(at(2*time.Hour)) || string(leased.LeaseHash) != "lease" {
		t.Errorf("UpdateReply returned %+v", leased)
	}
	due, err = s.DueReplies(ctx, at(time.Hour), 10)
	noErr(t, "DueReplies", err)
	equal(t, "due replies while r2 is leased", due, []keyserver.StoredReply{r1, r3})
	due, err = s.DueReplies(ctx, at(3*time.Hour), 10)
	noErr(t, "DueReplies", err)
	if len(due) != 3 || due[0].ID != r2.ID {
		t.Errorf("after the lease: %d due, first %s", len(due), due[0].ID)
	}

	// Delivered: no longer due, ciphertext gone, audited with the change.
	_, err = s.UpdateReply(ctx, r1.ID, func(r *keyserver.StoredReply) ([]keyserver.AuditEvent, error) {
		r.Delivered, r.Sealed = at(time.Hour), nil
		return []keyserver.AuditEvent{{Time: at(time.Hour), Actor: "gateway", Action: "reply.deliver", Envelope: envA.String()}}, nil
	})
	noErr(t, "UpdateReply delivered", err)
	_, err = s.UpdateReply(ctx, r3.ID, func(*keyserver.StoredReply) ([]keyserver.AuditEvent, error) { return nil, errFn })
	wantErr(t, "UpdateReply fn error", err, errFn)
	_, err = s.UpdateReply(ctx, "nope", func(*keyserver.StoredReply) ([]keyserver.AuditEvent, error) { return nil, nil })
	wantErr(t, "UpdateReply unknown", err, keyserver.ErrNotFound)
	due, err = s.DueReplies(ctx, at(3*time.Hour), 10)
	noErr(t, "DueReplies", err)
	if len(due) != 2 || due[0].ID != r2.ID || due[1].ID != r3.ID {
		t.Errorf("after delivery: %+v", due)
	}
	if n := len(auditLog(t, s)); n != 4 {
		t.Errorf("%d audit records, want 4", n)
	}

	of, err := s.RepliesOf(ctx, envA)
	noErr(t, "RepliesOf", err)
	if len(of) != 2 || of[0].ID != r2.ID || of[1].ID != r1.ID || of[1].Sealed != nil || !of[1].Delivered.Equal(at(time.Hour)) {
		t.Errorf("RepliesOf(A): %+v", of)
	}
	// A page of sent items: every envelope's replies in one read, without
	// ciphertexts (the 108-byte copy key is metadata for this purpose);
	// envelopes without replies (envC) are absent.
	envC := envelope.NewID()
	r4 := storedReply(envA, 4, at(30*time.Minute))
	r4.CopyKey = randBytes(108)
	noErr(t, "PutReply with a copy", s.PutReply(ctx, r4, nil))
	byEnv, err := s.RepliesOfEnvelopes(ctx, []envelope.ID{envC, envB, envA, envA})
	noErr(t, "RepliesOfEnvelopes", err)
	if len(byEnv) != 2 || len(byEnv[envA]) != 3 || len(byEnv[envB]) != 1 || byEnv[envB][0].ID != r3.ID {
		t.Fatalf("RepliesOfEnvelopes: %d envelopes, A %d, B %v", len(byEnv), len(byEnv[envA]), byEnv[envB])
	}
	if a := byEnv[envA]; a[0].ID != r2.ID || a[1].ID != r1.ID || a[2].ID != r4.ID {
		t.Errorf("RepliesOfEnvelopes(A) not oldest first: %s %s %s", a[0].ID, a[1].ID, a[2].ID)
	}
	for _, rs := range byEnv {
		for _, r := range rs {
			if r.Sealed != nil || r.LeaseHash != nil {
				t.Errorf("RepliesOfEnvelopes returned ciphertext or a lease for %s", r.ID)
			}
		}
	}
	if a := byEnv[envA]; !bytes.Equal(a[2].CopyKey, r4.CopyKey) || a[2].Size != 100 || a[2].From != "bob@example.org" {
		t.Errorf("RepliesOfEnvelopes lost metadata: %+v", a[2])
	}
	withCopy, err := s.RepliesOf(ctx, envA)
	noErr(t, "RepliesOf", err)
	if len(withCopy) != 3 || !bytes.Equal(withCopy[2].Sealed, r4.Sealed) || !bytes.Equal(withCopy[2].CopyKey, r4.CopyKey) {
		t.Errorf("RepliesOf does not keep the ciphertext and the copy key")
	}
	if none, err := s.RepliesOfEnvelopes(ctx, nil); err != nil || len(none) != 0 {
		t.Errorf("RepliesOfEnvelopes(nil): %v %v", none, err)
	}
	n, err := s.DeleteRepliesOf(ctx, envA, nil)
	noErr(t, "DeleteRepliesOf", err)
	if n != 3 {
		t.Errorf("DeleteRepliesOf removed %d, want 3", n)
	}
	of, err = s.RepliesOf(ctx, envA)
	noErr(t, "RepliesOf after delete", err)
	if len(of) != 0 {
		t.Errorf("replies left: %d", len(of))
	}
	due, err = s.DueReplies(ctx, at(3*time.Hour), 10)
	noErr(t, "DueReplies", err)
	equal(t, "due after deleting A's", due, []keyserver.StoredReply{r3})
}

// testStaleReplyEnvelopes pins StaleReplyEnvelopes: it lists, once each, the
// envelopes whose replies (pending, delivered with a copy, or failed) outlive
// the envelope's key (revoked, expired) or the envelope itself, and none of a
// live envelope or one without replies; with a limit, at most that many; after
// DeleteRepliesOf, none of those.
func testStaleReplyEnvelopes(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	live, revoked, expired, bare := record("alice@example.com", "bob@example.org", at(0)),
		record("alice@example.com", "bob@example.org", at(time.Second)),
		record("alice@example.com", "bob@example.org", at(2*time.Second)),
		record("alice@example.com", "bob@example.org", at(3*time.Second))
	noErr(t, "PutEnvelopes", s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: live}, {Record: revoked}, {Record: expired}, {Record: bare}}, nil))
	gone := envelope.NewID() // replies, but no envelope record
	n := 0
	put := func(env envelope.ID, change func(*keyserver.StoredReply)) {
		n++
		r := storedReply(env, n, at(time.Duration(n)*time.Minute))
		if change != nil {
			change(&r)
		}
		noErr(t, "PutReply", s.PutReply(ctx, r, nil))
	}
	delivered := func(r *keyserver.StoredReply) { r.Delivered, r.CopyKey = at(time.Hour), randBytes(108) }
	put(live.ID, nil)
	put(live.ID, delivered)
	put(revoked.ID, nil)
	put(revoked.ID, delivered)
	put(expired.ID, delivered) // kept only as the recipient's copy
	put(expired.ID, func(r *keyserver.StoredReply) { r.Failed, r.Reason, r.Sealed = at(time.Hour), "refused", nil })
	put(gone, nil)

	none, err := s.StaleReplyEnvelopes(ctx, 0)
	noErr(t, "StaleReplyEnvelopes", err)
	if len(none) != 1 || none[0] != gone {
		t.Fatalf("with every key present: %v, want only the envelope without a record", none)
	}
	_, err = s.UpdateEnvelope(ctx, revoked.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.Revoked, r.WrappedKey, r.HasPayload = at(time.Hour), nil, false
		return nil, nil
	})
	noErr(t, "revoke", err)
	_, err = s.UpdateEnvelope(ctx, expired.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.Expired, r.Expires, r.WrappedKey = at(time.Hour), at(time.Hour), nil
		return nil, nil
	})
	noErr(t, "expire", err)
	_, err = s.UpdateEnvelope(ctx, bare.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.Revoked, r.WrappedKey = at(time.Hour), nil // revoked, but without replies
		return nil, nil
	})
	noErr(t, "revoke bare", err)

	stale, err := s.StaleReplyEnvelopes(ctx, 0)
	noErr(t, "StaleReplyEnvelopes", err)
	slices.SortFunc(stale, func(a, b envelope.ID) int { return bytes.Compare(a[:], b[:]) })
	want := []envelope.ID{revoked.ID, expired.ID, gone}
	slices.SortFunc(want, func(a, b envelope.ID) int { return bytes.Compare(a[:], b[:]) })
	if !slices.Equal(stale, want) {
		t.Fatalf("stale: %v, want %v (revoked, expired, gone)", stale, want)
	}
	two, err := s.StaleReplyEnvelopes(ctx, 2)
	noErr(t, "StaleReplyEnvelopes limit 2", err)
	if len(two) != 2 || two[0] == two[1] {
		t.Errorf("limit 2: %v", two)
	}
	for _, id := range want {
		_, err := s.DeleteRepliesOf(ctx, id, nil)
		noErr(t, "DeleteRepliesOf", err)
	}
	after, err := s.StaleReplyEnvelopes(ctx, 0)
	noErr(t, "StaleReplyEnvelopes after deleting", err)
	if len(after) != 0 {
		t.Errorf("after deleting: %v", after)
	}
	left, err := s.RepliesOfEnvelopes(ctx, []envelope.ID{live.ID, revoked.ID, expired.ID, gone})
	noErr(t, "RepliesOfEnvelopes", err)
	if len(left) != 1 || len(left[live.ID]) != 2 {
		t.Errorf("a live envelope's replies went too: %v", left)
	}
	due, err := s.DueReplies(ctx, at(24*time.Hour), 0)
	noErr(t, "DueReplies", err)
	if len(due) != 1 || due[0].Envelope != live.ID {
		t.Errorf("due after deleting the stale: %d", len(due))
	}
}
