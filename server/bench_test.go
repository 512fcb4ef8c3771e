package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/keyserver/client"
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

// BenchmarkGateway measures messages per second through the whole gateway, sealed
// beside pass-through: real SMTP in on loopback, a real key server (bbolt,
// fsync'd group commits) for sealed mail, real SMTP out to a next hop that
// discards. Rounds of pass-through and of sealed messages alternate on one
// gateway, so load from anything else on the machine falls on both alike and the
// ratio holds even when absolute rates drift. Each round sends two messages on
// each of conns connections at once (an MTA's content filter uses several).
//
// keyserver=online is the default configuration (keys and the "open online"
// ciphertext registered); offline is online = false (keys only); none replaces
// the key server by a no-op, leaving the gateway's own work. All three run the
// key server in this process, sharing the machine's CPUs with the gateway, the
// client and the next hop. remote is the default configuration with the key
// server as it is deployed, on a machine of its own: here a process of its own
// on a CPU of its own, everything else confined to the other CPUs (Linux).
func BenchmarkGateway(b *testing.B) {
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = fmt.Sprintf("patient%d@patient.example", i)
	}
	one := []string{"bob@patient.example"}
	type run struct {
		size, conns, perConn int
		rcpts                []string
		keyserver            string
	}
	var runs []run
	for _, conns := range []int{1, 8} {
		for _, ks := range []string{"online", "offline", "none", "remote", "remote-noreports"} {
			runs = append(runs, run{100 << 10, conns, 2, one, ks})
		}
	}
	runs = append(runs, run{10<<20 - 64<<10, 1, 1, ten, "online"}, run{10<<20 - 64<<10, 1, 1, ten, "offline"})
	for _, c := range runs {
		size := "100KB"
		if c.size > 1<<20 {
			size = "10MB"
		}
		name := fmt.Sprintf("size=%s/rcpts=%d/conns=%d/keyserver=%s", size, len(c.rcpts), c.conns, c.keyserver)
		b.Run(name, func(b *testing.B) {
			var reg Registrar
			switch c.keyserver {
			case "none":
				reg = &nopRegistrar{}
			case "remote":
				reg = client.New(startRemoteKeyServer(b), gatewayToken, nil)
			case "remote-noreports":
				// The same, with only the client's ReportDeliveries hidden: no
				// delivery report is spooled or sent. (The saved languages are
				// still looked up, as with remote.)
				c := client.New(startRemoteKeyServer(b), gatewayToken, nil)
				reg = struct {
					Registrar
					LanguageLookup
				}{c, c}
			}
			e := startGateway(b, gwOptions{registrar: reg, tweak: func(cfg *Config) {
				cfg.MaxAttachmentBytes = 10 << 20
				cfg.RegisterTimeout = time.Minute // 10 online copies of 10 MB in one batch
				cfg.Online = c.keyserver != "offline"
				cfg.Logger = slog.New(slog.DiscardHandler)
			}})
			e.hop.discard = true
			pass := benchMessage("Lab results", c.size, c.rcpts)
			sealed := benchMessage("send secure Lab results", c.size, c.rcpts)
			clients := make([]*smtp.Client, c.conns)
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
			// Confirmations go only to internal senders: this one is not, so the
			// hop gets only the recipients' copies.
			round := func(msg []byte) time.Duration {
				start := time.Now()
				var wg sync.WaitGroup
				for _, cl := range clients {
					wg.Go(func() {
						for range c.perConn {
							if err := cl.SendMail("alice@sender.example", c.rcpts, bytes.NewReader(msg)); err != nil {
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
				n += c.conns * c.perConn
			}
			b.ReportMetric(float64(n)/tPass.Seconds(), "pass-msgs/s")
			b.ReportMetric(float64(n)/tSealed.Seconds(), "sealed-msgs/s")
			b.ReportMetric(tPass.Seconds()/tSealed.Seconds(), "sealed/pass")
			e.hop.mu.Lock()
			defer e.hop.mu.Unlock()
			// Pass-through: one copy for all recipients; sealed: one each.
			if want := n + n*len(c.rcpts); e.hop.count != want {
				b.Fatalf("the hop got %d messages, want %d", e.hop.count, want)
			}
		})
	}
}
