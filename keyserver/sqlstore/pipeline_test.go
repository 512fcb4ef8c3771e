package sqlstore_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/sqlstore"
)

// TestRefusedStatementInGroup: a statement the database refuses in the middle
// of a group commit (which on PostgreSQL aborts the transaction the pipelined
// BEGIN opened) fails only its own write; the writes grouped with it commit
// with their audit records, and the store's connection is usable afterwards,
// not left inside an aborted transaction.
func TestRefusedStatementInGroup(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { refusedStatementInGroup(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { refusedStatementInGroup(t, openPostgres(t)) })
}

func refusedStatementInGroup(t *testing.T, s *sqlstore.Store) {
	defer s.Close()
	ctx := t.Context()
	rec, release := releasable(t, s)
	const bad = "SELECT * FROM no_such_table"
	// Alone, then among releases, then alone again.
	if err := s.ExecInWrite(ctx, bad); err == nil {
		t.Fatal("a refused statement succeeded")
	}
	const writers = 20
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == writers/2 {
				errs[i] = s.ExecInWrite(ctx, bad)
				return
			}
			errs[i] = release()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i == writers/2) != (err != nil) {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if err := release(); err != nil {
		t.Fatalf("release after a refused statement: %v", err)
	}
	r, err := s.Envelope(ctx, rec.ID)
	if err != nil || r.Releases != writers {
		t.Errorf("%d releases (%v), want %d", r.Releases, err, writers)
	}
	if n, _, err := keyserver.VerifyAudit(ctx, s); err != nil || n != writers {
		t.Errorf("audit: %d records (%v), want %d", n, err, writers)
	}
}

// TestChainedOpening: writes that queue while a group runs become the next
// group, whose transaction begins in the same round trip as the first group's
// commit (pipeline.go). That group reads the envelope the first one changed as
// committed, commits every release with its audit record, and a statement the
// database refuses among them fails only itself, though the transaction it
// aborts was begun by another group's batch.
func TestChainedOpening(t *testing.T) {
	s := openPostgres(t)
	defer s.Close()
	ctx := t.Context()
	rec, release := releasable(t, s)
	if err := release(); err != nil { // the first group: one release
		t.Fatal(err)
	}

	for round, bad := range []bool{false, true} {
		started, open := make(chan struct{}), make(chan struct{})
		held := make(chan error, 1)
		go func() { held <- s.WriteHeld(ctx, started, open) }()
		<-started // the committer is inside the held write's group

		const writers = 16
		errs := make(chan error, writers)
		for i := range writers {
			go func() {
				if bad && i == writers/2 {
					errs <- s.ExecInWrite(ctx, "SELECT * FROM no_such_table")
					return
				}
				errs <- release()
			}()
		}
		for s.Queued() < writers {
			runtime.Gosched()
		}
		before := s.Chained()
		close(open)
		if err := <-held; err != nil {
			t.Fatalf("round %d: the held write: %v", round, err)
		}
		failed := 0
		for range writers {
			if err := <-errs; err != nil {
				failed++
			}
		}
		if want := map[bool]int{false: 0, true: 1}[bad]; failed != want {
			t.Errorf("round %d: %d writes failed, want %d", round, failed, want)
		}
		if got := s.Chained() - before; got < 1 {
			t.Errorf("round %d: %d groups began with the previous commit, want at least 1", round, got)
		}
	}
	want := 1 + 16 + 15
	r, err := s.Envelope(ctx, rec.ID)
	if err != nil || r.Releases != want {
		t.Errorf("%d releases (%v), want %d", r.Releases, err, want)
	}
	// The held writes append no audit record; every release did.
	if n, _, err := keyserver.VerifyAudit(ctx, s); err != nil || n != uint64(want) {
		t.Errorf("audit: %d records (%v), want %d", n, err, want)
	}
	if err := release(); err != nil {
		t.Fatalf("a release after the chained groups: %v", err)
	}
}

// releasable stores an envelope and returns it with a function that releases
// its key once, as the service does: the count and an audit record.
func releasable(t *testing.T, s *sqlstore.Store) (keyserver.EnvelopeRecord, func() error) {
	ctx := t.Context()
	rec := keyserver.EnvelopeRecord{ID: envelope.NewID(), Sender: "a@x.example", Recipient: "b@y.example",
		Created: time.Now(), WrappedKey: []byte("k"), KeyCheck: []byte("c")}
	if err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: rec}}, nil); err != nil {
		t.Fatal(err)
	}
	return rec, func() error {
		_, err := s.UpdateEnvelope(ctx, rec.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
			r.Releases++
			return []keyserver.AuditEvent{{Time: time.Now(), Actor: "t", Action: keyserver.ActionKeyRelease, Envelope: r.ID.String()}}, nil
		})
		return err
	}
}
