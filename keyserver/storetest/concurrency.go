package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

const goroutines = 64

// testConcurrentUpdateEnvelope is the key server's hot path: read the session,
// release the key, log it, from many goroutines at once on one envelope. No
// update may be lost or applied twice, and each must see the one before it.
func testConcurrentUpdateEnvelope(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	perG := 30
	if testing.Short() {
		perG = 5
	}
	env := record("alice@example.com", "bob@example.org", at(0))
	register(t, s, env)
	sess := session("0123456789abcdef0123456789abcdef", at(0))
	noErr(t, "PutSession", s.PutSession(ctx, sess))

	seen := make([]atomic.Int32, goroutines*perG+1) // by Releases as written
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range perG {
				if _, err := s.Session(ctx, sess.TokenHash); err != nil {
					t.Errorf("Session: %v", err)
					return
				}
				r, err := s.UpdateEnvelope(ctx, env.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
					r.Releases++
					return []keyserver.AuditEvent{event("key.release", r.Releases)}, nil
				})
				if err != nil {
					t.Errorf("UpdateEnvelope: %v", err)
					return
				}
				if r.Releases < 1 || r.Releases >= len(seen) {
					t.Errorf("UpdateEnvelope returned Releases %d", r.Releases)
					return
				}
				seen[r.Releases].Add(1)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	n := goroutines * perG
	if got := getEnvelope(t, s, env.ID).Releases; got != n {
		t.Errorf("Releases = %d, want %d", got, n)
	}
	for i := 1; i <= n; i++ {
		if c := seen[i].Load(); c != 1 {
			t.Errorf("%d updates returned Releases %d, want 1", c, i)
		}
	}
	log := auditLog(t, s)
	if len(log) != n+1 {
		t.Fatalf("audit has %d records, want %d", len(log), n+1)
	}
	// Events commit with their change: the k-th release's event is record k+1.
	for i, r := range log[1:] {
		equal(t, "release event", r.AuditEvent, event("key.release", i+1))
	}
}

// testConcurrentMixed runs writes that succeed, fail in fn, find nothing, and
// log alone, side by side, as batching stores combine them.
func testConcurrentMixed(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	perG := 20
	if testing.Short() {
		perG = 4
	}
	envs := []keyserver.EnvelopeRecord{
		record("alice@example.com", "bob@example.org", at(0)),
		record("alice@example.com", "carol@example.org", at(1)),
		record("alice@example.com", "dave@example.org", at(2)),
	}
	register(t, s, envs...)
	acc := createAccount(t, s, "zoe@example.com")

	var releases, signIns, logged atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				if err := mixedOp(t, s, g+i, envs[g%len(envs)].ID, acc.ID); err != nil {
					t.Error(err)
					return
				}
				switch (g + i) % 5 {
				case 0:
					releases.Add(1)
				case 3:
					logged.Add(2)
				case 4:
					signIns.Add(1)
				}
			}
		})
	}
	wg.Wait()

	total := 0
	for _, e := range envs {
		total += getEnvelope(t, s, e.ID).Releases
	}
	if int64(total) != releases.Load() {
		t.Errorf("Releases total %d, want %d", total, releases.Load())
	}
	a, err := s.Account(ctx, acc.ID)
	noErr(t, "Account", err)
	if int64(a.FailedSignIns) != signIns.Load()+int64(acc.FailedSignIns) {
		t.Errorf("FailedSignIns = %d, want %d", a.FailedSignIns, signIns.Load()+int64(acc.FailedSignIns))
	}
	want := 2 + releases.Load() + logged.Load() + signIns.Load() // +2: register, create
	if n := len(auditLog(t, s)); int64(n) != want {
		t.Errorf("audit has %d records, want %d", n, want)
	}
}

// mixedOp is one of testConcurrentMixed's five kinds of write, by k mod 5.
func mixedOp(t *testing.T, s keyserver.Store, k int, id envelope.ID, accountID string) error {
	ctx := t.Context()
	switch k % 5 {
	case 0:
		_, err := s.UpdateEnvelope(ctx, id, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
			r.Releases++
			return []keyserver.AuditEvent{event("key.release", k)}, nil
		})
		return err
	case 1:
		_, err := s.UpdateEnvelope(ctx, id, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
			r.Releases += 1000
			return []keyserver.AuditEvent{event("key.release", k)}, errFn
		})
		if !errors.Is(err, errFn) {
			return errors.Join(errors.New("UpdateEnvelope with fn failing: want errFn"), err)
		}
	case 2:
		_, err := s.UpdateEnvelope(ctx, envelope.NewID(), func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
			return []keyserver.AuditEvent{event("key.release", k)}, nil
		})
		if !errors.Is(err, keyserver.ErrNotFound) {
			return errors.Join(errors.New("UpdateEnvelope unknown: want ErrNotFound"), err)
		}
	case 3:
		return s.AppendAudit(ctx, []keyserver.AuditEvent{event("signin.fail", k), event("signin.fail", k+1)})
	case 4:
		_, err := s.UpdateAccount(ctx, accountID, func(a *keyserver.Account) ([]keyserver.AuditEvent, error) {
			a.FailedSignIns++
			return []keyserver.AuditEvent{event("signin.fail", k)}, nil
		})
		return err
	}
	return nil
}
