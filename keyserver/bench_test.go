package keyserver_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver/api"
)

// BenchmarkRelease measures key releases over HTTP on loopback, each with its
// durable (fsynced) audit record in a real bbolt file, from 16 and 64 concurrent
// clients; BenchmarkBaselineGet does a plain GET /healthz with the same clients in
// the same run. Both report requests per second and p50/p99 latency.
// docs/BENCHMARKS.md has the figures; reproduce with: make bench.
func BenchmarkRelease(b *testing.B) {
	for _, clients := range []int{16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			e := newEnv(b)
			benchLoad(b, e, clients, func(hc *http.Client, i int64, sess *releaser) error {
				return sess.release(hc, i)
			})
		})
	}
}

func BenchmarkBaselineGet(b *testing.B) {
	for _, clients := range []int{16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			e := newEnv(b)
			benchLoad(b, e, clients, func(hc *http.Client, i int64, _ *releaser) error {
				resp, err := hc.Get(e.srv.URL + "/healthz")
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}

// releaser is a signed-in recipient with many envelopes to open.
type releaser struct {
	url    string
	cookie string
	ids    []string
}

func (r *releaser) release(hc *http.Client, i int64) error {
	req, _ := http.NewRequest("POST", r.url+"/api/v1/envelopes/"+r.ids[i%int64(len(r.ids))]+"/key", nil)
	req.Header.Set(api.CSRFHeader, "1")
	req.AddCookie(&http.Cookie{Name: "waxseal", Value: r.cookie})
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("release: status %d", resp.StatusCode)
	}
	return nil
}

func benchLoad(b *testing.B, e *env, clients int, op func(*http.Client, int64, *releaser) error) {
	envs := e.seal("benchmark message", time.Time{}, "bob@patient.example")
	for range 9 {
		envs = append(envs, e.seal("benchmark message", time.Time{}, "bob@patient.example")...)
	}
	br := e.browser()
	br.register(envs[0], "Bob", "Patient")
	r := &releaser{url: e.srv.URL, cookie: br.cookie}
	for _, s := range envs {
		r.ids = append(r.ids, s.file.Header.ID.String())
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}}

	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var failures atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := op(hc, i, r); err != nil {
					failures.Add(1)
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d requests failed", f, b.N)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}
