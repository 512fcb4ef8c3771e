package server

import (
	"strings"
	"testing"
)

// TestControlCharacterHeaderRefused: a NUL or another control character in a
// header, raw or in an encoded word, is refused with 554; neither the reply nor
// the bounce quotes the header, and nothing is relayed.
func TestControlCharacterHeaderRefused(t *testing.T) {
	e := startGateway(t, gwOptions{})
	for _, subj := range []string{"PHI\x00: secret-lab-values", "=?utf-8?q?PHI=00=3A_secret-lab-values?=", "secret-lab-values\x07"} {
		msg := crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: " + subj + "\n\nbody\n")
		se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, msg)
		if se == nil || se.Code != 554 || strings.Contains(se.Message, "secret") || !strings.Contains(se.Message, "Subject") {
			t.Errorf("%q: %v, want 554 naming the field and not quoting it", subj, se)
		}
	}
	if n := len(e.hop.to("bob@patient.example")); n != 0 {
		t.Fatalf("%d copies relayed", n)
	}
	bounces := e.hop.to("alice@hospital.example")
	if len(bounces) != 3 {
		t.Fatalf("%d bounces, want 3", len(bounces))
	}
	for _, b := range bounces {
		if strings.Contains(string(b.Data), "secret") || !strings.Contains(bodyText(t, b.Data), "control character") {
			t.Errorf("bounce quotes the header or lacks the reason:\n%s", b.Data)
		}
	}
}

// TestMalformedHeaderNotQuoted: a header line the parser cannot read is
// refused without quoting it, in the reply and in the bounce.
func TestMalformedHeaderNotQuoted(t *testing.T) {
	e := startGateway(t, gwOptions{})
	msg := crlf("From: alice@hospital.example\nSubject: PHI: x\nsecret-lab-values without a colon\n\nbody\n")
	se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, msg)
	if se == nil || se.Code != 554 || strings.Contains(se.Message, "secret") || !strings.Contains(se.Message, "line 3 of the header is not a header field") {
		t.Fatalf("%v, want 554 without the line", se)
	}
	bounces := e.hop.to("alice@hospital.example")
	if len(bounces) != 1 || strings.Contains(string(bounces[0].Data), "secret") {
		t.Fatalf("%d bounces, or the bounce quotes the line", len(bounces))
	}
}

func TestOversizeText(t *testing.T) {
	g := &Gateway{cfg: Config{MaxMessageBytes: 10 << 20}}
	if got := g.oversize(11744051).reason; got != "Message is 11.2 MB; secure mail is limited to 10 MB" {
		t.Errorf("oversize: %q", got)
	}
}

// TestEncodedDisplayName: an RFC 2047 display name (in UTF-8, and in a charset
// only htmlindex knows) is shown decoded in the envelope header, the wrapper
// mail's text and HTML parts, and the key server's record; never as encoded
// words, and escaped in HTML.
func TestEncodedDisplayName(t *testing.T) {
	e := startGateway(t, gwOptions{})
	for from, want := range map[string]string{
		"=?utf-8?b?SsO2cmcgPE3DvGxsZXI+?= <alice@hospital.example>": "Jörg <Müller>",
		"=?koi8-r?q?=F4=C5=D3=D4?= <alice@hospital.example>":        "Тест",
	} {
		msg := crlf("From: " + from + "\nTo: bob@patient.example\nSubject: PHI: results\n\nbody\n")
		before := len(e.hop.to("bob@patient.example"))
		if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, msg); se != nil {
			t.Fatal(se)
		}
		got := e.hop.to("bob@patient.example")
		if len(got) != before+1 {
			t.Fatalf("%d copies", len(got))
		}
		_, notice, html, file := wrapperParts(t, got[before].Data)
		if !strings.Contains(file.Header.From, want) || strings.Contains(file.Header.From, "=?") {
			t.Errorf("envelope From %q, want the name %q decoded", file.Header.From, want)
		}
		if !strings.Contains(notice, want) || strings.Contains(notice, "=?") {
			t.Errorf("notice text:\n%s", notice)
		}
		if strings.Contains(html, "=?") || strings.Contains(html, "<Müller>") || (want == "Jörg <Müller>" && !strings.Contains(html, "Jörg &lt;Müller&gt;")) {
			t.Errorf("notice HTML not decoded or not escaped:\n%s", html)
		}
	}
}
