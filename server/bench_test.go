package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// benchMessage is a text message of about size bytes with a base64 attachment,
// the usual shape of a lab report mail.
func benchMessage(subject string, size int, rcpts []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Dr. Alice <alice@hospital.example>\r\nTo: %s\r\nSubject: %s\r\nMIME-Version: 1.0\r\n", strings.Join(rcpts, ", "), subject)
	b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nResults attached.\r\n")
	b.WriteString("--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	line := make([]byte, 76)
	for b.Len() < size-100 {
		for i := range line {
			line[i] = alphabet[rng.IntN(64)]
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	b.WriteString("--b--\r\n")
	return b.Bytes()
}

// BenchmarkGateway measures messages per second through the whole gateway: real
// SMTP in on loopback, a real key server (bbolt, fsync'd group commits) for
// sealed mail, real SMTP out to a next hop that discards. conns is the number of
// submitting connections, as an MTA's content filter runs several; sealed-offline
// is sealed without storing the ciphertext for "open online" (online = false).
func BenchmarkGateway(b *testing.B) {
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = fmt.Sprintf("patient%d@patient.example", i)
	}
	one := []string{"bob@patient.example"}
	type run struct {
		name    string
		size    int
		rcpts   []string
		conns   int
		subject string
		offline bool
		noKS    bool
	}
	var runs []run
	for _, conns := range []int{1, 8} {
		prefix := fmt.Sprintf("size=100KB/conns=%d/", conns)
		runs = append(runs,
			run{prefix + "passthrough", 100 << 10, one, conns, "Lab results", false, false},
			run{prefix + "sealed", 100 << 10, one, conns, "send secure Lab results", false, false},
			run{prefix + "sealed-offline", 100 << 10, one, conns, "send secure Lab results", true, false})
	}
	runs = append(runs, run{"size=100KB/conns=1/sealed-nokeyserver", 100 << 10, one, 1, "send secure Lab results", false, true})
	runs = append(runs,
		run{"size=10MB-rcpts=10/conns=1/passthrough", 10<<20 - 64<<10, ten, 1, "Lab results", false, false},
		run{"size=10MB-rcpts=10/conns=1/sealed", 10<<20 - 64<<10, ten, 1, "send secure Lab results", false, false},
		run{"size=10MB-rcpts=10/conns=1/sealed-offline", 10<<20 - 64<<10, ten, 1, "send secure Lab results", true, false})
	for _, c := range runs {
		b.Run(c.name, func(b *testing.B) {
			var reg Registrar
			if c.noKS {
				reg = &nopRegistrar{}
			}
			e := startGateway(b, gwOptions{registrar: reg, tweak: func(cfg *Config) {
				cfg.MaxAttachmentBytes = 10 << 20
				cfg.RegisterTimeout = time.Minute // 10 online copies of 10 MB in one batch
				cfg.Online = !c.offline
				cfg.Logger = slog.New(slog.DiscardHandler)
			}})
			e.hop.discard = true
			// Confirmations go only to internal senders: this one is not, so the
			// hop counts only the copies for the recipients.
			from := "alice@sender.example"
			msg := benchMessage(c.subject, c.size, c.rcpts)
			b.SetBytes(int64(len(msg)))
			var sent atomic.Int64
			submitter := func(next func() bool) {
				cl, err := smtp.Dial(e.addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer cl.Close()
				if err := cl.Hello("mta.hospital.example"); err != nil {
					b.Error(err)
					return
				}
				for next() {
					if err := cl.SendMail(from, c.rcpts, bytes.NewReader(msg)); err != nil {
						b.Error(err)
						return
					}
					sent.Add(1)
				}
			}
			b.ResetTimer()
			if c.conns == 1 {
				submitter(b.Loop)
			} else {
				// RunParallel starts parallelism × GOMAXPROCS goroutines.
				b.SetParallelism(max(1, c.conns/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) { submitter(pb.Next) })
			}
			b.StopTimer()
			b.ReportMetric(float64(sent.Load())/b.Elapsed().Seconds(), "msgs/s")
			e.hop.mu.Lock()
			defer e.hop.mu.Unlock()
			want := int(sent.Load())
			if strings.Contains(c.name, "sealed") {
				want *= len(c.rcpts) // one envelope each
			}
			if e.hop.count != want {
				b.Fatalf("the hop got %d messages, want %d", e.hop.count, want)
			}
		})
	}
}

// BenchmarkGatewayRatio measures sealed and pass-through messages interleaved on
// one gateway: rounds of pass-through and of sealed messages alternate, so load
// from anything else on the machine falls on both alike, and the ratio holds
// even when absolute rates drift. Each round sends two messages on each of conns
// connections at once.
func BenchmarkGatewayRatio(b *testing.B) {
	one := []string{"bob@patient.example"}
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("size=100KB/conns=%d", conns), func(b *testing.B) {
			e := startGateway(b, gwOptions{tweak: func(cfg *Config) { cfg.Logger = slog.New(slog.DiscardHandler) }})
			e.hop.discard = true
			pass := benchMessage("Lab results", 100<<10, one)
			sealed := benchMessage("send secure Lab results", 100<<10, one)
			clients := make([]*smtp.Client, conns)
			for i := range clients {
				cl, err := smtp.Dial(e.addr)
				if err != nil {
					b.Fatal(err)
				}
				defer cl.Close()
				if err := cl.Hello("mta.hospital.example"); err != nil {
					b.Fatal(err)
				}
				clients[i] = cl
			}
			const perConn = 2
			round := func(msg []byte) time.Duration {
				start := time.Now()
				var wg sync.WaitGroup
				for _, cl := range clients {
					wg.Go(func() {
						for range perConn {
							if err := cl.SendMail("alice@sender.example", one, bytes.NewReader(msg)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				return time.Since(start)
			}
			var tPass, tSealed time.Duration
			n := 0
			for b.Loop() {
				tPass += round(pass)
				tSealed += round(sealed)
				n += conns * perConn
			}
			b.ReportMetric(float64(n)/tPass.Seconds(), "pass-msgs/s")
			b.ReportMetric(float64(n)/tSealed.Seconds(), "sealed-msgs/s")
			b.ReportMetric(tPass.Seconds()/tSealed.Seconds(), "sealed/pass")
			e.hop.mu.Lock()
			defer e.hop.mu.Unlock()
			if e.hop.count != 2*n {
				b.Fatalf("the hop got %d messages, want %d", e.hop.count, 2*n)
			}
		})
	}
}
