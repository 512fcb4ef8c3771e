package server

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/server/policy"
)

// TestSubjectsThroughGateway holds the gateway, over real SMTP, to the subject
// table server/policy's TestSubjects checks the policy against: every subject
// to be sealed reaches the external recipient only as an envelope whose subject
// is the one the table shows, every plain one as it was sent; a subject with a
// control character is refused (554) and reaches nobody.
func TestSubjectsThroughGateway(t *testing.T) {
	e := startGateway(t, gwOptions{})
	b, err := os.ReadFile("policy/testdata/subjects.txt")
	if err != nil {
		t.Fatal(err)
	}
	n, rows := 0, 0
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		raw, err1 := strconv.Unquote(f[1])
		shown, err2 := strconv.Unquote(f[2])
		if len(f) != 3 || err1 != nil || err2 != nil {
			t.Fatalf("bad row %q", line)
		}
		rows++
		secret := fmt.Sprintf("secret-body-%d", rows)
		msg := append(crlf("From: alice@sender.example\nTo: bob@patient.example\nSubject: "), raw...)
		msg = append(msg, crlf("\n\n"+secret+"\n")...)
		se := submit(t, e.addr, "alice@sender.example", []string{"bob@patient.example"}, msg)
		if policy.HasControl(raw) {
			if se == nil || se.Code != 554 {
				t.Errorf("%q: %v, want 554", raw, se)
			}
			continue
		}
		if se != nil {
			t.Errorf("%q: %v", raw, se)
			continue
		}
		n++
		got := e.hop.to("bob@patient.example")
		if len(got) != n {
			t.Fatalf("%q: bob has %d messages, want %d", raw, len(got), n)
		}
		data := got[n-1].Data
		switch f[0] {
		case "seal":
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%q: relayed in plaintext", raw)
				continue
			}
			m, err := mail.ReadMessage(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if s := decodeSubject(t, m); s != shown {
				t.Errorf("%q: the recipient sees %q, want %q", raw, s, shown)
			}
		case "plain":
			if !bytes.Contains(data, []byte(secret)) || !bytes.Contains(data, []byte("Subject: "+raw+"\r\n")) {
				t.Errorf("%q: not relayed as it was", raw)
			}
		}
	}
	if rows < 80 {
		t.Fatalf("only %d rows", rows)
	}
}
