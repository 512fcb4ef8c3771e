package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/keyserver/client"
)

// nopRelay accepts everything; the fuzz target never touches the network.
type nopRelay struct{}

func (nopRelay) Send(context.Context, string, []string, []byte, bool) error { return nil }

type nopRegistrar struct{ n int }

func (r *nopRegistrar) RegisterEnvelopes(_ context.Context, regs []client.Registration) error {
	r.n += len(regs)
	return nil
}

// FuzzGateway feeds arbitrary bytes as a message through parse → decide → seal
// (everything Process does before relaying, and the body check a sealed
// message's copies wait for): no panic, a refusal is a clear one, and every copy it would
// relay passes the plaintext check, and each external recipient of triggered
// mail gets an envelope and nothing else.
func FuzzGateway(f *testing.F) {
	f.Add(labMessage("[send secure] Lab results"))
	f.Add(labMessage("Lab results"))
	f.Add([]byte("Subject: =?utf-8?q?PHI=3A?=\r\n\r\n"))
	f.Add([]byte("Subject: a\r\nSubject: b\r\n\r\nx"))
	f.Add([]byte("From: <>\r\nSubject: send\r\n secure\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\n--a--"))
	f.Add([]byte("Subject: PHI: x\r\nthe body's first line\r\n"))
	reg := &nopRegistrar{}
	g, err := New(Config{Hostname: "fuzz.test", Relay: nopRelay{}, Policy: newPolicy(f), KeyServer: reg, KeyServerURL: publicURL,
		Online: true, Logger: slog.New(slog.DiscardHandler), MaxMessageBytes: 1 << 20, MaxAttachmentBytes: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &Inbound{ID: "fuzz", From: "alice@hospital.example", Data: data,
			To: []string{"carol@hospital.example", "bob@patient.example", "eve@insurer.example"}}
		p, err := g.prepare(context.Background(), in)
		if err == nil {
			// A sealed message's body is checked while its copies would travel.
			err = p.keys.wait(context.Background())
		}
		if err != nil {
			var rej *rejection
			if !errors.As(err, &rej) || rej.code/100 != 5 || rej.reason == "" {
				t.Fatalf("prepare failed without a clear refusal: %v", err)
			}
			if strings.ContainsAny(rej.reason, "\r\n") {
				// One reply line: a reason that quoted the message could split it.
				t.Fatalf("reason with a line break: %q", rej.reason)
			}
			return
		}
		if m := g.policy.Decide("", nil, p.result.Clean); m.Triggered {
			t.Fatalf("the cleaned subject %q triggers again", p.result.Clean)
		}
		envelopes := 0
		for _, d := range p.deliveries {
			if err := g.checkOutgoing(d); err != nil {
				t.Fatalf("prepared a %s copy the relay check refuses: %v", d.kind, err)
			}
			for _, r := range d.to {
				if r != "bob@patient.example" {
					continue
				}
				if p.result.Triggered && (d.kind != kindEnvelope || len(d.to) != 1) {
					t.Fatalf("the external recipient of triggered mail gets a %s copy shared with %v", d.kind, d.to)
				}
				if d.kind == kindEnvelope {
					envelopes++
				}
			}
		}
		if want := map[bool]int{true: 1, false: 0}[p.result.Triggered]; envelopes != want {
			t.Fatalf("triggered %v, %d envelopes for the external recipient", p.result.Triggered, envelopes)
		}
	})
}
