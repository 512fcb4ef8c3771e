package boltstore

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

var errFirst = errors.New("refused on the first call")

// TestBatchRerun puts three writes in one batch behind a fourth that holds the
// write lock: one refuses on its first call only, one appends an audit record,
// one panics. bbolt rolls the batch back, reruns it without the panicking write,
// then runs that alone. The refusal of the first run must not outlive it, and
// the audit chain must not continue from the rolled-back record.
func TestBatchRerun(t *testing.T) {
	ctx := t.Context()
	s, err := Open(filepath.Join(t.TempDir(), "waxseal.db"), Options{MaxBatchDelay: time.Minute, MaxBatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := envelope.NewID()
	rec := keyserver.EnvelopeRecord{ID: id, Sender: "a@x.io", Recipient: "b@x.io", Created: time.Now(), WrappedKey: []byte("k")}
	if err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: rec}}, nil); err != nil {
		t.Fatal(err)
	}
	release := func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.Releases++
		return []keyserver.AuditEvent{{Time: time.Now(), Actor: "test", Action: "key.release"}}, nil
	}

	var wg sync.WaitGroup
	// start runs f once the writes started before it are in flight, so that
	// they join the batch in order.
	start := func(f func()) {
		n := s.writers.Load()
		wg.Go(f)
		for deadline := time.Now().Add(10 * time.Second); s.writers.Load() == n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("a write did not start")
			}
		}
	}
	unblock := make(chan struct{})
	unblockWrite := sync.OnceFunc(func() { close(unblock) })
	defer unblockWrite() // before Close, which waits for the blocked write
	// Alone, so not batched: this write holds the write lock until unblocked.
	start(func() {
		_, err := s.UpdateEnvelope(ctx, id, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
			<-unblock
			return release(r)
		})
		if err != nil {
			t.Errorf("blocking write: %v", err)
		}
	})
	calls := 0
	start(func() {
		_, err := s.UpdateEnvelope(ctx, id, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
			if calls++; calls == 1 {
				return nil, errFirst
			}
			return release(r)
		})
		if err != nil {
			t.Errorf("write refusing only its first call: %v", err)
		}
	})
	start(func() {
		if err := s.AppendAudit(ctx, []keyserver.AuditEvent{{Time: time.Now(), Actor: "test", Action: "signin.fail"}}); err != nil {
			t.Errorf("AppendAudit: %v", err)
		}
	})
	start(func() {
		defer func() {
			if recover() == nil {
				t.Error("a panic in fn did not reach the caller")
			}
		}()
		s.UpdateEnvelope(ctx, id, func(*keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
			panic("fn panics")
		})
	})
	unblockWrite()
	wg.Wait()

	if calls < 2 {
		t.Errorf("the refusing write's fn ran %d times: the batch was not rerun", calls)
	}
	r, err := s.Envelope(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Releases != 2 {
		t.Errorf("Releases = %d, want 2", r.Releases)
	}
	var v keyserver.AuditVerifier
	if err := s.Audit(ctx, 1, func(r keyserver.AuditRecord) (bool, error) { return true, v.Check(r) }); err != nil {
		t.Fatal(err)
	}
	if v.Count != 3 {
		t.Errorf("audit has %d records, want 3", v.Count)
	}
}

// TestRefusedChanges checks the changes an fn may not make, which would corrupt
// keys or indexes if written.
func TestRefusedChanges(t *testing.T) {
	ctx := t.Context()
	s, err := Open(filepath.Join(t.TempDir(), "waxseal.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := keyserver.EnvelopeRecord{ID: envelope.NewID(), Sender: "a@x.io", Recipient: "b@x.io", Created: time.Now()}
	if err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: rec, Payload: []byte("p")}}, nil); err == nil {
		t.Error("PutEnvelopes took a payload for an envelope without HasPayload")
	}
	if err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: rec}}, nil); err != nil {
		t.Fatal(err)
	}
	acc := keyserver.Account{ID: "01", Email: "b@x.io"}
	if err := s.CreateAccount(ctx, acc, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCode(ctx, keyserver.Code{Email: "b@x.io", Purpose: keyserver.CodeSignIn}); err != nil {
		t.Fatal(err)
	}
	for name, update := range map[string]func() error{
		"envelope id": func() error {
			_, err := s.UpdateEnvelope(ctx, rec.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
				r.ID = envelope.NewID()
				return nil, nil
			})
			return err
		},
		"HasPayload set": func() error {
			_, err := s.UpdateEnvelope(ctx, rec.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
				r.HasPayload = true
				return nil, nil
			})
			return err
		},
		"account email": func() error {
			_, err := s.UpdateAccount(ctx, acc.ID, func(a *keyserver.Account) ([]keyserver.AuditEvent, error) {
				a.Email = "c@x.io"
				return nil, nil
			})
			return err
		},
		"account id": func() error {
			_, err := s.UpdateAccount(ctx, acc.ID, func(a *keyserver.Account) ([]keyserver.AuditEvent, error) {
				a.ID = "02"
				return nil, nil
			})
			return err
		},
		"code purpose": func() error {
			_, err := s.UpdateCode(ctx, "b@x.io", keyserver.CodeSignIn, func(c *keyserver.Code) error {
				c.Purpose = keyserver.CodeReset
				return nil
			})
			return err
		},
	} {
		if update() == nil {
			t.Errorf("fn changing the %s was not refused", name)
		}
	}
	if got, err := s.AccountByEmail(ctx, "b@x.io"); err != nil || got.ID != acc.ID {
		t.Errorf("account after refused changes: %+v, %v", got, err)
	}
	if got, err := s.Envelope(ctx, rec.ID); err != nil || got.HasPayload {
		t.Errorf("envelope after refused changes: %+v, %v", got, err)
	}
}
