package server

import (
	"bytes"
	"crypto/rand"
	"net/mail"
	nettextproto "net/textproto"
	"regexp"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope/reply/compose"
)

// addressing matches a header line that addresses or threads a message: in a
// reply, only the gateway may write one (FORMAT.md §13.2).
var addressing = regexp.MustCompile(`(?i)^(from|to|cc|bcc|sender|reply-to|return-path|resent-[a-z-]*|message-id|in-reply-to|references|date|disposition-notification-to)\s*:`)

// FuzzBuildReply feeds arbitrary opened replies (what a browser sealed: the
// key server cannot check it and the gateway must not trust it) to buildReply.
// It never panics, and what it writes carries the gateway's addressing only:
// splitting the header at any line end a mail program might honour (CRLF, LF
// or a lone CR; a field with a stray one is refused), no line but the
// gateway's own addresses or threads the mail,
// and net/mail reads back exactly the gateway's From, To and Cc.
func FuzzBuildReply(f *testing.F) {
	raw, err := compose.Build(&compose.Draft{Subject: "Re: Lab results", Text: "Thank you.",
		Attachments: []compose.Attachment{{Name: "q.pdf", Data: []byte("%PDF")}}}, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(append([]byte(forgedHeaders), raw...))
	f.Add([]byte("Subject: x\r\n\tBcc: folded@evil.example\r\n\r\nbody"))
	f.Add([]byte("Subject: x\nBcc: lf@evil.example\n\nbody"))
	f.Add([]byte("Subject: x\rBcc: cr@evil.example\r\n\r\nbody"))
	f.Add([]byte("Content-Type: text/plain\r\nSubject: a\r\nSubject: b\r\n\r\n"))
	f.Add([]byte(""))
	r := pendingReply("fz", ReplyToAll, nil)
	to, cc := []string{"alice@hospital.example"}, []string{"carol@hospital.example"}
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, inner []byte) {
		r := r
		r.Original.MessageID, r.Original.Wrapper = "orig-1@hospital.example", "wrap-1@gateway.test"
		out, err := buildReply(&r, inner, to, cc, "gw-1@gateway.test", now)
		if err != nil {
			return
		}
		end := bytes.Index(out, []byte("\r\n\r\n"))
		if end < 0 {
			t.Fatalf("no end of header in %q", out)
		}
		// The gateway's own fields come first: From, To, Cc, Date,
		// Message-ID, In-Reply-To, References.
		lines := regexp.MustCompile(`\r\n|\n|\r`).Split(string(out[:end]), -1)
		own := 0
		for i, l := range lines {
			if addressing.MatchString(l) {
				if i != own {
					t.Fatalf("line %d of the header addresses the mail: %q\n%q", i, l, out[:end])
				}
				own++
			}
		}
		if own != 7 {
			t.Fatalf("%d addressing lines, want the gateway's 7: %q", own, out[:end])
		}
		m, err := mail.ReadMessage(bytes.NewReader(out))
		if err != nil {
			return // unreadable downstream too: the mail is refused, not misaddressed
		}
		for field, want := range map[string]string{"From": `"Bob Patient" <bob@patient.example>`, "To": "alice@hospital.example",
			"Cc": "carol@hospital.example", "Message-ID": "<gw-1@gateway.test>", "Bcc": "", "Sender": "", "Reply-To": ""} {
			if got := m.Header[nettextproto.CanonicalMIMEHeaderKey(field)]; (want == "" && len(got) != 0) || (want != "" && (len(got) != 1 || got[0] != want)) {
				t.Fatalf("%s: %q, want %q", field, got, want)
			}
		}
	})
}
