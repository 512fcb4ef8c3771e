package sqlstore_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// TestGroupFailureIsItsOwn: writes sharing a transaction with one whose fn
// panics, and one whose fn refuses, still commit; the panic reaches only its
// own caller, the refusal only its own, and neither leaves anything written.
// On PostgreSQL the group commit is pipelined (pipeline.go): its rollback and
// redo take another path than SQLite's.
func TestGroupFailureIsItsOwn(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { groupFailureIsItsOwn(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { groupFailureIsItsOwn(t, openPostgres(t)) })
}

func groupFailureIsItsOwn(t *testing.T, s keyserver.Store) {
	defer s.Close()
	ctx := t.Context()
	var envs []keyserver.NewEnvelope
	for range 3 {
		envs = append(envs, keyserver.NewEnvelope{Record: keyserver.EnvelopeRecord{ID: envelope.NewID(), Sender: "a@x.example",
			Recipient: "b@y.example", Created: time.Now(), WrappedKey: []byte("k"), KeyCheck: []byte("c")}})
	}
	if err := s.PutEnvelopes(ctx, envs, nil); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	const writers = 30
	var wg sync.WaitGroup
	results := make([]any, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					results[i] = p
				}
			}()
			id := envs[i%3].Record.ID
			_, err := s.UpdateEnvelope(ctx, id, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
				r.Releases++
				switch i % 3 {
				case 1:
					panic("fn panicked")
				case 2:
					return nil, refused
				}
				return []keyserver.AuditEvent{{Time: time.Now(), Actor: "t", Action: "key.release"}}, nil
			})
			results[i] = err
		}()
	}
	wg.Wait()
	for i, res := range results {
		switch i % 3 {
		case 0:
			if res != nil {
				t.Errorf("writer %d: %v, want success", i, res)
			}
		case 1:
			if p, ok := res.(error); !ok || !strings.Contains(p.Error(), "fn panicked") {
				t.Errorf("writer %d: %v, want its own panic", i, res)
			}
		case 2:
			if err, _ := res.(error); !errors.Is(err, refused) {
				t.Errorf("writer %d: %v, want its refusal", i, res)
			}
		}
	}
	for j, want := range []int{writers / 3, 0, 0} {
		r, err := s.Envelope(ctx, envs[j].Record.ID)
		if err != nil || r.Releases != want {
			t.Errorf("envelope %d: %d releases (%v), want %d", j, r.Releases, err, want)
		}
	}
	if n, _, err := keyserver.VerifyAudit(ctx, s); err != nil || n != writers/3 {
		t.Errorf("audit: %d records (%v), want %d", n, err, writers/3)
	}
}
