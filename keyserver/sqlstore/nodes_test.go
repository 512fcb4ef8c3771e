package sqlstore_test

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/sqlstore"
)

// TestTwoNodesOneChain runs two stores on one database, as two key server
// nodes do, releasing the same envelopes concurrently from both: every release
// is counted once, and the audit records of both form one unbroken chain (the
// head row's lock serialises appends across stores).
func TestTwoNodesOneChain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		driver sqlstore.Driver
		dsn    func(t *testing.T) string
	}{
		{"sqlite", sqlstore.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "nodes.sqlite") }},
		{"postgres", sqlstore.Postgres, func(t *testing.T) string { return freshSchema(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := tc.dsn(t)
			var nodes []*sqlstore.Store
			for range 2 {
				s, err := sqlstore.Open(ctx, tc.driver, dsn, sqlstore.Options{Migrate: true})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				nodes = append(nodes, s)
			}
			var ids []envelope.ID
			var envs []keyserver.NewEnvelope
			for range 4 {
				key := make([]byte, 32)
				rand.Read(key)
				r := keyserver.EnvelopeRecord{ID: envelope.NewID(), Sender: "a@hospital.example", Recipient: "b@example.org",
					Created: time.Now(), WrappedKey: key, KeyCheck: key}
				ids = append(ids, r.ID)
				envs = append(envs, keyserver.NewEnvelope{Record: r})
			}
			if err := nodes[0].PutEnvelopes(ctx, envs, []keyserver.AuditEvent{{Time: time.Now(), Actor: "gateway", Action: "envelope.register"}}); err != nil {
				t.Fatal(err)
			}
			const perWorker = 40
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					node := nodes[w%2]
					for i := range perWorker {
						id := ids[(w+i)%len(ids)]
						_, err := node.UpdateEnvelope(ctx, id, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
							r.Releases++
							return []keyserver.AuditEvent{{Time: time.Now(), Actor: fmt.Sprintf("node%d", w%2), Action: "key.release", Envelope: id.String()}}, nil
						})
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			total := 0
			for _, id := range ids {
				r, err := nodes[1].Envelope(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				total += r.Releases
			}
			if total != 16*perWorker {
				t.Errorf("%d releases counted, want %d", total, 16*perWorker)
			}
			n, _, err := keyserver.VerifyAudit(ctx, nodes[0])
			if err != nil || n != 1+16*perWorker {
				t.Errorf("audit chain: %d records, %v; want %d, unbroken", n, err, 1+16*perWorker)
			}
		})
	}
}
