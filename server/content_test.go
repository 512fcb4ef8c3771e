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

	"github.com/waxseal/waxseal/server/policy"
)

func contentPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	tr, err := policy.NewTriggers(policy.DefaultPhrases, policy.DefaultPrefixes)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := policy.NewContentRules([]policy.ContentRule{
		{Name: "SSN", Kind: policy.KindSSN, Action: policy.ActionSealAndNotify},
		{Name: "NPI", Kind: policy.KindNPI},
		{Name: "MRN", Kind: policy.KindRegex, Pattern: `MR[0-9]{7}\b`, Keywords: []string{"MRN"}},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.New(policy.Config{InternalDomains: []string{"hospital.example"}, Triggers: tr, Content: rules})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestContentRuleSeals: over SMTP, a message without a trigger whose HTML body
// holds an SSN is sealed for the external recipient; the sender's confirmation
// names the rule and never the number; a message with a 9-digit order number
// goes out as it is.
func TestContentRuleSeals(t *testing.T) {
	e := startGateway(t, gwOptions{tweak: func(c *Config) { c.Policy = contentPolicy(t) }})
	msg := crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: Your form\nMIME-Version: 1.0\nContent-Type: text/html\n\n<p>SSN <b>078</b>-05-1120</p>\n")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, msg); se != nil {
		t.Fatal(se)
	}
	bob := e.hop.to("bob@patient.example")
	if len(bob) != 1 || bytes.Contains(bob[0].Data, []byte("05-1120")) || !bytes.Contains(bob[0].Data, []byte("securedoc_")) {
		t.Fatalf("not sealed: %d copies", len(bob))
	}
	conf := e.hop.to("alice@hospital.example")
	if len(conf) != 1 {
		t.Fatalf("%d confirmations", len(conf))
	}
	if text := bodyText(t, conf[0].Data); !strings.Contains(text, `content rule "SSN"`) || strings.Contains(text, "1120") {
		t.Errorf("confirmation:\n%s", text)
	}
	order := crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: Your order\n\nOrder 123456789 ships today.\n")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, order); se != nil {
		t.Fatal(se)
	}
	if bob = e.hop.to("bob@patient.example"); len(bob) != 2 || !bytes.Contains(bob[1].Data, []byte("Order 123456789")) {
		t.Fatal("the order was not relayed as it is")
	}
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "05-1120") || strings.Contains(line, "051120") {
			t.Errorf("the log holds the matched number: %s", line)
		}
	}
}

// textMessage is a plain text message of about size bytes: prose with numbers
// that are no identifiers (dates, amounts, phone numbers), the worst case for
// the content scan, which reads every byte of it.
func textMessage(subject string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Dr. Alice <alice@hospital.example>\r\nTo: bob@patient.example\r\nSubject: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", subject)
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"the", "results", "of", "your", "visit", "on", "2026-11-04", "were", "normal;", "call", "555-123-4567", "order", "12345678", "invoice", "USD", "1,234.50", "and", "tracking", "1Z999AA101"}
	for b.Len() < size {
		for i := 0; i < 12; i++ {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// BenchmarkContentRules: gateway throughput with the SSN, NPI and an MRN rule
// on against the same gateway without content rules, 100 KB text messages to an
// external recipient (relayed as they are, so every byte is scanned), rounds of
// the two alternating in one run. docs/BENCHMARKS.md.
func BenchmarkContentRules(b *testing.B) {
	start := func(p *policy.Policy) (*gw, *smtp.Client) {
		e := startGateway(b, gwOptions{tweak: func(c *Config) { c.Policy = p; c.Logger = slog.New(slog.DiscardHandler) }})
		e.hop.discard = true
		cl, err := smtp.Dial(e.addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cl.Close() })
		if err := cl.Hello("mta.hospital.example"); err != nil {
			b.Fatal(err)
		}
		return e, cl
	}
	_, off := start(newPolicy(b))
	_, on := start(contentPolicy(b))
	msg := textMessage("Lab results", 100<<10)
	const perRound = 8
	round := func(cl *smtp.Client) time.Duration {
		t0 := time.Now()
		var wg sync.WaitGroup
		wg.Go(func() {
			for range perRound {
				if err := cl.SendMail("alice@sender.example", []string{"bob@patient.example"}, bytes.NewReader(msg)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		wg.Wait()
		return time.Since(t0)
	}
	var tOff, tOn time.Duration
	n := 0
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so neither always follows the other's
		// garbage or warm caches.
		if i%2 == 0 {
			tOff += round(off)
			tOn += round(on)
		} else {
			tOn += round(on)
			tOff += round(off)
		}
		n += perRound
	}
	b.ReportMetric(float64(n)/tOff.Seconds(), "rules-off-msgs/s")
	b.ReportMetric(float64(n)/tOn.Seconds(), "rules-on-msgs/s")
	b.ReportMetric(tOff.Seconds()/tOn.Seconds(), "on/off")
}
