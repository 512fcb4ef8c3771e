package boltstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

var (
	errFirst = errors.New("refused on the first call")
	errBroke = errors.New("fn failed after writing")
)

// blocked holds the committer in a write until unblock (in a synctest bubble:
// the tests that use it run in one, from Open on), so that the writes queued
// meanwhile share a commit; queue starts a write and waits until it is queued, so
// that writes queue in order.
type blocked struct {
	t       *testing.T
	s       *Store
	wg      sync.WaitGroup
	unblock func()
}

func blockCommitter(t *testing.T, s *Store) *blocked {
	b := &blocked{t: t, s: s}
	ch := make(chan struct{})
	b.unblock = sync.OnceFunc(func() { close(ch) })
	t.Cleanup(b.unblock)
	running := make(chan struct{})
	started := sync.OnceFunc(func() { close(running) })
	b.wg.Go(func() {
		// The writes queued meanwhile join this one's transaction, which is
		// redone if one of them fails: this fn may run again.
		err := s.write(t.Context(), func(*bolt.Tx) error {
			started()
			<-ch
			return refusal{} // wrote nothing: no commit
		})
		if err != nil {
			t.Errorf("blocking write: %v", err)
		}
	})
	<-running
	return b
}

// queue runs in a synctest bubble: once every goroutine of the bubble is blocked,
// f's write has queued (its writer waits for the outcome) or f has returned.
func (b *blocked) queue(f func()) {
	b.t.Helper()
	n := b.queued()
	b.wg.Go(f)
	synctest.Wait()
	if b.queued() == n {
		b.unblock() // first: the test's deferred Close waits for the blocked write
		b.t.Fatal("a write did not queue")
	}
}

func (b *blocked) queued() int {
	b.s.committer.mu.Lock()
	defer b.s.committer.mu.Unlock()
	return len(b.s.committer.queue)
}

// finish unblocks the committer and waits for every write.
func (b *blocked) finish() {
	b.unblock()
	b.wg.Wait()
}

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func putTestEnvelope(t *testing.T, s *Store) envelope.ID {
	t.Helper()
	id := envelope.NewID()
	rec := keyserver.EnvelopeRecord{ID: id, Sender: "a@x.io", Recipient: "b@x.io", Created: time.Now(), WrappedKey: []byte("k")}
	if err := s.PutEnvelopes(t.Context(), []keyserver.NewEnvelope{{Record: rec}}, nil); err != nil {
		t.Fatal(err)
	}
	return id
}

func release(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
	r.Releases++
	return []keyserver.AuditEvent{{Time: time.Now(), Actor: "test", Action: "key.release"}}, nil
}

// TestGroupFailure queues writes behind one that holds the committer, so that
// they share a commit: one refuses on its first call only, one appends an audit
// record, one writes and then panics, one writes and then fails, one release is
// cancelled while queued, and two releases follow. The failures must neither fail
// nor lose the others' writes, nor leave their own partial writes; the refusal of
// a rolled-back run must not outlive it, nor the audit chain continue from a
// rolled-back record; and what was acknowledged must be in the file when it is
// opened again.
func TestGroupFailure(t *testing.T) { synctest.Test(t, testGroupFailure) }

func testGroupFailure(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "waxseal.db")
	s := openTest(t, path)
	defer func() { s.Close() }()
	id := putTestEnvelope(t, s)

	b := blockCommitter(t, s)
	calls := 0
	b.queue(func() {
		err := s.write(ctx, func(tx *bolt.Tx) error {
			if calls++; calls == 1 {
				return refusal{errFirst}
			}
			return s.appendAudit(tx, []keyserver.AuditEvent{{Time: time.Now(), Actor: "test", Action: "second call"}})
		})
		if err != nil {
			t.Errorf("write refusing only its first call: %v", err)
		}
	})
	b.queue(func() {
		if err := s.AppendAudit(ctx, []keyserver.AuditEvent{{Time: time.Now(), Actor: "test", Action: "signin.fail"}}); err != nil {
			t.Errorf("AppendAudit: %v", err)
		}
	})
	b.queue(func() {
		defer func() {
			if recover() == nil {
				t.Error("a panic in fn did not reach the caller")
			}
		}()
		s.write(ctx, func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketMeta).Put([]byte("panicked"), []byte("x")); err != nil {
				return err
			}
			panic("fn panics")
		})
	})
	brokeRuns := 0
	b.queue(func() {
		err := s.write(ctx, func(tx *bolt.Tx) error {
			brokeRuns++
			if err := tx.Bucket(bucketMeta).Put([]byte("broken"), []byte("x")); err != nil {
				return err
			}
			if err := s.appendAudit(tx, []keyserver.AuditEvent{{Time: time.Now(), Actor: "test", Action: "broken"}}); err != nil {
				return err
			}
			return errBroke
		})
		if !errors.Is(err, errBroke) {
			t.Errorf("write failing after writing: got %v, want %v", err, errBroke)
		}
	})
	cctx, cancel := context.WithCancel(ctx)
	cancelledRan := false
	b.queue(func() {
		_, err := s.UpdateEnvelope(cctx, id, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
			cancelledRan = true
			return release(r)
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("write cancelled while queued: got %v, want %v", err, context.Canceled)
		}
	})
	cancel()
	b.queue(func() {
		if _, err := s.UpdateEnvelope(ctx, id, release); err != nil {
			t.Errorf("release: %v", err)
		}
	})
	b.queue(func() {
		if _, err := s.UpdateEnvelope(ctx, id, release); err != nil {
			t.Errorf("release: %v", err)
		}
	})
	b.finish()

	if calls < 2 {
		t.Errorf("the refusing write's fn ran %d times: its group was not redone", calls)
	}
	if brokeRuns < 2 {
		t.Errorf("the failing write's fn ran %d times, want a run alone after the group's", brokeRuns)
	}
	if cancelledRan {
		t.Error("the fn of the write cancelled while queued ran")
	}
	check := func(s *Store) {
		t.Helper()
		r, err := s.Envelope(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Releases != 2 {
			t.Errorf("Releases = %d, want 2", r.Releases)
		}
		err = s.view(ctx, func(tx *bolt.Tx) error {
			for _, k := range []string{"broken", "panicked"} {
				if tx.Bucket(bucketMeta).Get([]byte(k)) != nil {
					t.Errorf("the change of the write that failed (%s) was committed", k)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var v keyserver.AuditVerifier
		var actions []string
		err = s.Audit(ctx, 1, func(r keyserver.AuditRecord) (bool, error) {
			actions = append(actions, string(r.Action))
			return true, v.Check(r)
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"second call", "signin.fail", "key.release", "key.release"}; !slices.Equal(actions, want) {
			t.Errorf("audit records %q, want %q", actions, want)
		}
	}
	check(s)

	// The chain carries on from the remembered end, and from the file's after
	// reopening.
	if err := s.AppendAudit(ctx, []keyserver.AuditEvent{{Time: time.Now(), Actor: "test", Action: "after"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	if err := s.AppendAudit(ctx, []keyserver.AuditEvent{{Time: time.Now(), Actor: "test", Action: "reopened"}}); err != nil {
		t.Fatal(err)
	}
	var v keyserver.AuditVerifier
	if err := s.Audit(ctx, 1, func(r keyserver.AuditRecord) (bool, error) { return true, v.Check(r) }); err != nil {
		t.Fatal(err)
	}
	if v.Count != 6 {
		t.Errorf("audit has %d records after reopening, want 6", v.Count)
	}
}

// TestGroupCommit checks that writes queued while the committer runs an fn share
// its transaction, and that a group of refusals commits nothing.
func TestGroupCommit(t *testing.T) { synctest.Test(t, testGroupCommit) }

func testGroupCommit(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "waxseal.db"))
	defer s.Close()
	var mu sync.Mutex
	txs := map[*bolt.Tx]int{}
	b := blockCommitter(t, s)
	for i := range 5 {
		b.queue(func() {
			err := s.write(ctx, func(tx *bolt.Tx) error {
				mu.Lock()
				txs[tx]++
				mu.Unlock()
				return tx.Bucket(bucketMeta).Put([]byte{'k', byte(i)}, nil)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	b.finish()
	if len(txs) != 1 {
		t.Errorf("5 writes queued together ran in %d transactions", len(txs))
	}

	before := writes(s)
	b = blockCommitter(t, s)
	for range 3 {
		b.queue(func() {
			err := s.write(ctx, func(tx *bolt.Tx) error {
				if tx.Bucket(bucketMeta).Get([]byte("absent")) == nil {
					return refusal{keyserver.ErrNotFound}
				}
				return tx.Bucket(bucketMeta).Delete([]byte("absent"))
			})
			if !errors.Is(err, keyserver.ErrNotFound) {
				t.Errorf("refused write: %v", err)
			}
		})
	}
	b.finish()
	if n := writes(s) - before; n != 0 {
		t.Errorf("a group of refusals wrote %d pages", n)
	}
}

// TestGroupGoexit checks that an fn calling runtime.Goexit, which ends the
// committer's goroutine, fails its own write only: the others of its group are
// redone, and the store carries on.
func TestGroupGoexit(t *testing.T) { synctest.Test(t, testGroupGoexit) }

func testGroupGoexit(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "waxseal.db"))
	defer s.Close()
	id := putTestEnvelope(t, s)
	b := blockCommitter(t, s)
	b.queue(func() {
		if _, err := s.UpdateEnvelope(ctx, id, release); err != nil {
			t.Errorf("release before: %v", err)
		}
	})
	b.queue(func() {
		err := s.write(ctx, func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketMeta).Put([]byte("goexit"), []byte("x")); err != nil {
				return err
			}
			runtime.Goexit()
			return nil
		})
		if !errors.Is(err, errGoexit) {
			t.Errorf("write calling Goexit: got %v, want %v", err, errGoexit)
		}
	})
	b.queue(func() {
		if _, err := s.UpdateEnvelope(ctx, id, release); err != nil {
			t.Errorf("release after: %v", err)
		}
	})
	b.finish()
	if _, err := s.UpdateEnvelope(ctx, id, release); err != nil {
		t.Errorf("release once the committer is replaced: %v", err)
	}
	r, err := s.Envelope(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Releases != 3 {
		t.Errorf("Releases = %d, want 3", r.Releases)
	}
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get([]byte("goexit")) != nil {
			t.Error("the change of the write calling Goexit was committed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var v keyserver.AuditVerifier
	if err := s.Audit(ctx, 1, func(r keyserver.AuditRecord) (bool, error) { return true, v.Check(r) }); err != nil {
		t.Fatal(err)
	}
	if v.Count != 3 {
		t.Errorf("audit has %d records, want 3", v.Count)
	}
}

// TestCloseDrains checks that Close commits the writes already queued, and that
// writes after Close fail.
func TestCloseDrains(t *testing.T) { synctest.Test(t, testCloseDrains) }

func testCloseDrains(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "waxseal.db")
	s := openTest(t, path)
	id := putTestEnvelope(t, s)
	b := blockCommitter(t, s)
	for range 3 {
		b.queue(func() {
			if _, err := s.UpdateEnvelope(ctx, id, release); err != nil {
				t.Errorf("release queued before Close: %v", err)
			}
		})
	}
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	synctest.Wait() // Close waits for the committer now
	s.committer.mu.Lock()
	c := s.committer.closed
	s.committer.mu.Unlock()
	if !c {
		t.Fatal("Close did not start")
	}
	if _, err := s.UpdateEnvelope(ctx, id, release); !errors.Is(err, berrors.ErrDatabaseNotOpen) {
		t.Errorf("release after Close: %v", err)
	}
	b.finish()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	defer s.Close()
	r, err := s.Envelope(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Releases != 3 {
		t.Errorf("Releases = %d after Close, want 3", r.Releases)
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

// writes counts the pages s has written.
func writes(s *Store) int64 {
	st := s.db.Stats()
	return st.TxStats.GetWrite()
}

// committed is the id of the last committed write transaction.
func committed(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestEnqueuedJoinsNextCommit: an upload nobody waits for does not commit
// alone when a registration follows it, but in the registration's commit (one
// fsync for both); with nothing following, it commits alone, soon.
func TestEnqueuedJoinsNextCommit(t *testing.T) { synctest.Test(t, testEnqueuedJoinsNextCommit) }

// testEnqueuedJoinsNextCommit runs in a synctest bubble: its clock moves only when
// everything waits, so lazyCommit is kept to the nanosecond.
func testEnqueuedJoinsNextCommit(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "waxseal.db"))
	defer s.Close()
	ct := []byte("ciphertext of a message, as uploaded")
	sum := sha256.Sum256(ct)

	before := committed(t, s)
	if err := s.PutCiphertext(ctx, sum, ct, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The registration arrives a little later, as over a network; and later
	// than a commit would take.
	time.Sleep(lazyCommit / 5)
	rec := keyserver.EnvelopeRecord{ID: envelope.NewID(), Sender: "a@x.io", Recipient: "b@x.io", Created: time.Now(),
		WrappedKey: []byte("k"), HasPayload: true, Ciphertext: sum[:]}
	if err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: rec, Payload: []byte("head")}}, nil); err != nil {
		t.Fatalf("registration right after the upload: %v", err)
	}
	if n := committed(t, s) - before; n != 1 {
		t.Errorf("an upload and the registration after it took %d commits, want 1", n)
	}

	// The first upload's timer, now without a write to commit, runs out.
	time.Sleep(lazyCommit)
	other := []byte("an upload no registration follows")
	osum := sha256.Sum256(other)
	if err := s.PutCiphertext(ctx, osum, other, time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(lazyCommit - time.Nanosecond)
	synctest.Wait()
	if _, err := s.Ciphertext(ctx, osum); err == nil {
		t.Errorf("an upload alone committed before lazyCommit, not waiting for company")
	}
	time.Sleep(time.Nanosecond)
	synctest.Wait()
	if _, err := s.Ciphertext(ctx, osum); err != nil {
		t.Errorf("an upload alone is not committed after lazyCommit: %v", err)
	}
}
