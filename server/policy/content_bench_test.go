package policy

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

func benchRules(b *testing.B) *Policy {
	tr, err := NewTriggers(DefaultPhrases, DefaultPrefixes)
	if err != nil {
		b.Fatal(err)
	}
	rules, err := NewContentRules([]ContentRule{
		{Name: "SSN", Kind: KindSSN}, {Name: "NPI", Kind: KindNPI},
		{Name: "MRN", Kind: KindRegex, Pattern: `MR[0-9]{7}\b`, Keywords: []string{"MRN"}},
	}, 0)
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(Config{InternalDomains: []string{"hospital.example"}, Triggers: tr, Content: rules})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// textBody is a plain text message of about size bytes of prose with numbers
// that are no identifiers: every byte is scanned.
func textBody(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: alice@hospital.example\r\nTo: bob@patient.example\r\nSubject: Lab results\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
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

// BenchmarkPolicyContent10MB: the policy decision for a 10 MB text message
// with the SSN, NPI and an MRN rule on (docs/BENCHMARKS.md; target < 20 ms).
func BenchmarkPolicyContent10MB(b *testing.B) {
	for _, c := range []struct {
		size int
		kind string
	}{{100 << 10, "text"}, {10 << 20, "text"}, {10 << 20, "multipart-html"}} {
		size := c.size
		b.Run(fmt.Sprintf("size=%dKB/body=%s", size>>10, c.kind), func(b *testing.B) {
			p := benchRules(b)
			msg := textBody(size)
			if c.kind == "multipart-html" {
				msg = htmlBody(size)
			}
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				r, err := p.Evaluate(context.Background(), Input{Sender: "alice@hospital.example", Recipients: []string{"bob@patient.example"}, Subject: "Lab results", Message: msg})
				if err != nil || r.Content != nil {
					b.Fatalf("%v %+v", err, r.Content)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/decision")
		})
	}
}

// htmlBody is a multipart/alternative message of about size bytes: a text part
// and an HTML part, half each.
func htmlBody(size int) []byte {
	text := textBody(size / 2)
	body := text[bytes.Index(text, []byte("\r\n\r\n"))+4:]
	var b bytes.Buffer
	b.WriteString("From: alice@hospital.example\r\nSubject: Lab results\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n")
	b.WriteString("--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.Write(body)
	b.WriteString("\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>")
	b.Write(bytes.ReplaceAll(body, []byte("\r\n"), []byte("<br>\r\n<p>")))
	b.WriteString("</body></html>\r\n--b--\r\n")
	return b.Bytes()
}
