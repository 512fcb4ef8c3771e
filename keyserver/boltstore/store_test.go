package boltstore_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/boltstore"
	"github.com/waxseal/waxseal/keyserver/storetest"
)

func open(t testing.TB, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyserver.Store {
		return open(t, filepath.Join(t.TempDir(), "waxseal.db"))
	})
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "waxseal.db")
	s := open(t, path)
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode %v, want 0600", mode)
	}
}

// TestReopen checks that what one Store committed, the next one on the file reads.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "waxseal.db")
	s := open(t, path)

	created := time.Date(2026, 11, 3, 9, 30, 15, 123456789, time.UTC)
	env := keyserver.EnvelopeRecord{
		ID: envelope.NewID(), Sender: "a@x.io", Recipient: "b@x.io", Subject: "s",
		Created: created, Expires: created.Add(time.Hour), WrappedKey: []byte("wrapped"), KeyCheck: []byte("check"),
		HasPayload: true,
	}
	payload := bytes.Repeat([]byte("p"), 1<<20)
	ev := keyserver.AuditEvent{Time: created, Actor: "gateway", Action: "envelope.register"}
	must(t, s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: env, Payload: payload}}, []keyserver.AuditEvent{ev}))
	acc := keyserver.Account{ID: "0123", Email: "b@x.io", Role: keyserver.RoleRecipient, Created: created, UserHandle: []byte("h")}
	must(t, s.CreateAccount(ctx, acc, []keyserver.AuditEvent{ev}))
	sess := keyserver.Session{TokenHash: []byte("token"), AccountID: acc.ID, Created: created, LastSeen: created}
	must(t, s.PutSession(ctx, sess))
	mailID, err := s.EnqueueMail(ctx, keyserver.OutboxMail{From: "k@x.io", To: []string{"b@x.io"}, Message: []byte("m"), NextAttempt: created})
	must(t, err)
	must(t, s.Close())

	s = open(t, path)
	defer s.Close()
	gotEnv, err := s.Envelope(ctx, env.ID)
	must(t, err)
	if !gotEnv.Created.Equal(created) || gotEnv.Subject != env.Subject || !bytes.Equal(gotEnv.WrappedKey, env.WrappedKey) {
		t.Errorf("envelope after reopening: %+v", gotEnv)
	}
	gotPayload, err := s.Payload(ctx, env.ID)
	must(t, err)
	if !bytes.Equal(gotPayload, payload) {
		t.Error("payload changed across reopening")
	}
	if _, err := s.AccountByEmail(ctx, acc.Email); err != nil {
		t.Error(err)
	}
	if _, err := s.Session(ctx, sess.TokenHash); err != nil {
		t.Error(err)
	}
	if ids, err := s.ExpiredEnvelopes(ctx, created.Add(2*time.Hour), 10); err != nil || len(ids) != 1 {
		t.Errorf("ExpiredEnvelopes after reopening: %v, %v", ids, err)
	}
	due, err := s.DueMail(ctx, created, 10)
	must(t, err)
	if len(due) != 1 || due[0].ID != mailID {
		t.Errorf("DueMail after reopening: %+v", due)
	}
	// The sequences carry on where they stopped.
	next, err := s.EnqueueMail(ctx, keyserver.OutboxMail{NextAttempt: created})
	must(t, err)
	if next <= mailID {
		t.Errorf("mail id %d after reopening, want above %d", next, mailID)
	}
	must(t, s.AppendAudit(ctx, []keyserver.AuditEvent{ev}))
	var v keyserver.AuditVerifier
	must(t, s.Audit(ctx, 1, func(r keyserver.AuditRecord) (bool, error) { return true, v.Check(r) }))
	if v.Count != 3 {
		t.Errorf("audit has %d records after reopening, want 3", v.Count)
	}
}

// TestOpenLocked checks that a second Store on a file in use fails rather than
// hanging.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "waxseal.db")
	s := open(t, path)
	defer s.Close()
	if s2, err := boltstore.Open(path, boltstore.Options{Timeout: 50 * time.Millisecond}); err == nil {
		s2.Close()
		t.Fatal("opened a database that another Store has open")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkUpdateEnvelopeParallel is the key release hot path: UpdateEnvelope
// with one audit event, from 64 goroutines whatever GOMAXPROCS is.
func BenchmarkUpdateEnvelopeParallel(b *testing.B) {
	ctx := b.Context()
	s := open(b, filepath.Join(b.TempDir(), "waxseal.db"))
	defer s.Close()
	env := keyserver.EnvelopeRecord{
		ID: envelope.NewID(), Sender: "a@x.io", Recipient: "b@x.io", Subject: "benchmark",
		Created: time.Now(), WrappedKey: make([]byte, 48), KeyCheck: make([]byte, 32),
	}
	if err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: env}}, nil); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := s.UpdateEnvelope(ctx, env.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
				r.Releases++
				return []keyserver.AuditEvent{{Time: time.Now(), Actor: "account:0123", Action: "key.release", Envelope: env.ID.String(), ClientIP: "192.0.2.1"}}, nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
