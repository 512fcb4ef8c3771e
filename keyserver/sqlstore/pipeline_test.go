package sqlstore_test

import (
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
