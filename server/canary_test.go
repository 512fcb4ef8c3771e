package server

import (
	"bytes"
	"strings"
	"testing"
)

// Replies, logs and "Not sent" notices name a problem and where it is, never
// what the message says, its subject included: a canary written in a refused
// message appears nowhere.
func TestNoMessageContentInRepliesLogsNotices(t *testing.T) {
	cases := []struct {
		name   string
		msg    string
		code   int
		reason string // in the reply and in the notice
	}{{
		name: "no blank line before the body",
		msg: "From: alice@hospital.example\nTo: bob@patient.example\nSubject: PHI: CANARY-S1\n" +
			"CANARY-B1 is the first line of the body\nand CANARY-B1b the second\n",
		code:   554,
		reason: "line 4 of the header is not a header field",
	}, {
		name: "malformed MIME part",
		msg: "From: alice@hospital.example\nTo: bob@patient.example\nSubject: PHI: results\nMIME-Version: 1.0\n" +
			"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhello\n--x\nCANARY-P2 is no header line\n\nbody\n--x--\n",
		code:   554,
		reason: "MIME part 2 is malformed",
	}, {
		name: "attachment over the limit",
		msg: "From: alice@hospital.example\nTo: bob@patient.example\nSubject: PHI: CANARY-S3\nMIME-Version: 1.0\n" +
			"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nCANARY-B3\n--x\n" +
			"Content-Type: application/pdf; name=\"CANARY-F3.pdf\"\nContent-Disposition: attachment; filename=\"CANARY-F3.pdf\"\n\n" +
			strings.Repeat("0123456789abcdef0123456789abcdef\n", 1024) + "--x--\n",
		code:   552,
		reason: "attachment 1 (MIME part 2) is larger than the limit",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := startGateway(t, gwOptions{tweak: func(c *Config) { c.MaxAttachmentBytes = 16 << 10 }})
			se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, crlf(c.msg))
			if se == nil || se.Code != c.code || !strings.Contains(se.Message, c.reason) {
				t.Fatalf("reply %v, want %d with %q", se, c.code, c.reason)
			}
			if strings.Contains(se.Message, "CANARY") || strings.ContainsAny(se.Message, "\r\n") {
				t.Errorf("the reply quotes the message: %q", se.Message)
			}
			if strings.Contains(e.logs.String(), "CANARY") {
				t.Errorf("the log quotes the message:\n%s", e.logs)
			}
			if n := len(e.hop.to("bob@patient.example")); n != 0 {
				t.Fatalf("%d copies relayed", n)
			}
			notices := e.hop.to("alice@hospital.example")
			if len(notices) != 1 {
				t.Fatalf("%d notices to the sender, want 1", len(notices))
			}
			body := bodyText(t, notices[0].Data)
			if !strings.Contains(body, c.reason) {
				t.Errorf("the notice does not give the reason %q:\n%s", c.reason, body)
			}
			if bytes.Contains(notices[0].Data, []byte("CANARY")) || strings.Contains(body, "CANARY") {
				t.Errorf("the notice quotes the message:\n%s", body)
			}
		})
	}
}

// A message that goes out: canaries in a header field, the body and the subject
// reach the recipients' copies and nothing else (the envelope holds them
// encrypted; the confirmation, by design, names the subject and nothing more).
func TestNoMessageContentDelivered(t *testing.T) {
	e := startGateway(t, gwOptions{})
	msg := crlf("From: alice@hospital.example\nTo: carol@hospital.example, bob@patient.example\nSubject: PHI: CANARY-S4\n" +
		"X-Note: CANARY-H4\n\nCANARY-B4 in the body\n")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"carol@hospital.example", "bob@patient.example"}, msg); se != nil {
		t.Fatalf("DATA answered %v", se)
	}
	if strings.Contains(e.logs.String(), "CANARY") {
		t.Errorf("the log quotes the message:\n%s", e.logs)
	}
	carol := e.hop.to("carol@hospital.example")
	if len(carol) != 1 || !bytes.Contains(carol[0].Data, []byte("CANARY-B4")) || !bytes.Contains(carol[0].Data, []byte("CANARY-H4")) {
		t.Fatal("the internal recipient did not get the message as sent")
	}
	bob := e.hop.to("bob@patient.example")
	if len(bob) != 1 || bytes.Contains(bob[0].Data, []byte("CANARY-B4")) || bytes.Contains(bob[0].Data, []byte("CANARY-H4")) {
		t.Fatal("the external recipient's envelope is missing or shows the message in plaintext")
	}
	_, _, _, f := wrapperParts(t, bob[0].Data)
	opened := e.ks.openAs(&browser{k: e.ks}, f)
	if !bytes.Contains(opened, []byte("CANARY-B4")) || !bytes.Contains(opened, []byte("CANARY-H4")) {
		t.Error("the opened envelope does not hold the message")
	}
	confirm := e.hop.to("alice@hospital.example")
	if len(confirm) != 1 {
		t.Fatalf("%d confirmations", len(confirm))
	}
	assertCanaryOnlyInSubject(t, confirm[0].Data, bodyText(t, confirm[0].Data), "CANARY-S4")
}

// assertCanaryOnlyInSubject: no canary in a confirmation but the subject, in
// its Subject header and its "Subject:" line.
func assertCanaryOnlyInSubject(t *testing.T, raw []byte, body, subject string) {
	t.Helper()
	hdr := raw[:bytes.Index(raw, []byte("\r\n\r\n"))]
	for _, part := range []string{string(hdr), body} {
		for _, line := range strings.Split(part, "\n") {
			if subject != "" && strings.HasPrefix(line, "Subject:") {
				line = strings.Replace(line, subject, "", 1)
			}
			if strings.Contains(line, "CANARY") {
				t.Errorf("the notice quotes the message: %q", line)
			}
		}
	}
}
