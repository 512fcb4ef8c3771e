package server

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/keyserver"
)

// hostileAttachments is a triggered message whose attachment names a browser
// or the key server could trip on: markup, a right-to-left override, and an
// encoded name.
func hostileAttachments() []byte {
	return crlf(`From: alice@hospital.example
To: bob@patient.example
Subject: PHI: scans
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: text/plain

See attached.
--b1
Content-Type: image/png
Content-Disposition: attachment; filename="<script>alert(1)</script>.png"
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--b1
Content-Type: application/octet-stream
Content-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe

AAAA
--b1
Content-Type: application/pdf
Content-Disposition: attachment; filename="=?utf-8?q?R=C3=A9sum=C3=A9.pdf?="

%PDF
--b1--
`)
}

// TestSentAttachmentNames: with the organisation's choice on, the gateway
// registers the attachment names with every envelope of the message (over
// SMTP, to a real key server); off, which is the default, none.
func TestSentAttachmentNames(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("on=", on), func(t *testing.T) {
			e := startGateway(t, gwOptions{tweak: func(c *Config) { c.SentAttachmentNames = on }})
			if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example", "dan@patient.example"}, labMessage("PHI: results")); se != nil {
				t.Fatalf("DATA answered %v", se)
			}
			if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, hostileAttachments()); se != nil {
				t.Fatalf("DATA answered %v", se)
			}
			recs, err := e.ks.store.ListEnvelopes(context.Background(), keyserver.EnvelopeQuery{Sender: "alice@hospital.example"})
			if err != nil || len(recs) != 3 {
				t.Fatalf("%d envelopes (%v)", len(recs), err)
			}
			for _, r := range recs {
				var want []string
				switch {
				case !on:
				case strings.Contains(r.Subject, "results"):
					want = []string{"results.pdf"}
				default:
					want = []string{"<script>alert(1)</script>.png", "invoice fdp.exe", "Résumé.pdf"}
				}
				if !slices.Equal(r.Attachments, want) {
					t.Errorf("%s to %s registered attachments %q, want %q", r.Subject, r.Recipient, r.Attachments, want)
				}
			}
		})
	}
}

func TestSentAttachmentNamesFitTheKeyServer(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	many := make([]string, 150)
	for i := range many {
		many[i] = fmt.Sprintf("scan-%d.png", i)
	}
	got := sentAttachmentNames(append([]string{long, " \u200f\x01 ", "a\u2066b"}, many...))
	if err := keyserver.ValidateAttachmentNames(got); err != nil {
		t.Fatalf("the key server would refuse them: %v", err)
	}
	if len(got) != keyserver.MaxAttachmentNames || got[99] != "(and 54 more)" || got[98] != "scan-95.png" {
		t.Errorf("%d names ending %q, want 100 ending (and 54 more)", len(got), got[97:])
	}
	if want := strings.Repeat("é", 126) + "…"; got[0] != want {
		t.Errorf("a long name became %q (%d bytes)", got[0], len(got[0]))
	}
	if got[1] != "(unnamed attachment)" || got[2] != "a b" {
		t.Errorf("names of controls only and with a bidi mark became %q, %q", got[1], got[2])
	}
}

// With the names on, the body is walked before registration: an attachment over
// the limit is refused as without them, and nothing is registered or relayed.
func TestSentAttachmentNamesOversizeRegistersNothing(t *testing.T) {
	e := startGateway(t, gwOptions{tweak: func(c *Config) { c.SentAttachmentNames = true; c.MaxAttachmentBytes = 16 << 10 }})
	att := crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: PHI: scan\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhi\n--x\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"scan.tif\"\nContent-Transfer-Encoding: base64\n\n")
	att = append(att, bytes.Repeat([]byte("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n"), 400)...)
	att = append(att, crlf("--x--\n")...)
	se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, att)
	if se == nil || se.Code != 552 || !strings.Contains(se.Message, "attachment 1 (MIME part 2)") {
		t.Fatalf("oversize attachment: %v", se)
	}
	recs, err := e.ks.store.ListEnvelopes(context.Background(), keyserver.EnvelopeQuery{})
	if err != nil || len(recs) != 0 {
		t.Errorf("%d envelopes registered (%v), want none", len(recs), err)
	}
	if len(e.hop.to("bob@patient.example")) != 0 {
		t.Error("an oversize message was relayed")
	}
}
