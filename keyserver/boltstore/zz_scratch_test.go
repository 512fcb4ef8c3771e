package boltstore_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/boltstore"
)

func BenchmarkScratch(b *testing.B) {
	ctx := b.Context()
	d, _ := time.ParseDuration(os.Getenv("DELAY"))
	n, _ := strconv.Atoi(os.Getenv("SIZE"))
	g, _ := strconv.Atoi(os.Getenv("G"))
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "x.db"), boltstore.Options{MaxBatchDelay: d, MaxBatchSize: n})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	env := keyserver.EnvelopeRecord{ID: envelope.NewID(), Sender: "a@x.io", Recipient: "b@x.io", Created: time.Now(), WrappedKey: make([]byte, 48), KeyCheck: make([]byte, 32)}
	s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: env}}, nil)
	b.SetParallelism(max(1, g/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.UpdateEnvelope(ctx, env.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
				r.Releases++
				return []keyserver.AuditEvent{{Time: time.Now(), Actor: "account:0123", Action: "key.release", Envelope: env.ID.String(), ClientIP: "192.0.2.1"}}, nil
			})
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
