package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver/client"
)

// labMessage is a triggered message with an attachment, as a mail client would
// submit it.
func labMessage(subject string) []byte {
	return crlf(`From: "Dr. Alice Example" <alice@hospital.example>
To: carol@hospital.example, bob@patient.example
Subject: ` + subject + `
Date: Sun, 22 Nov 2026 09:00:00 +0000
Message-ID: <lab-1@hospital.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: text/plain; charset=utf-8

Dear Bob, your results are attached.
--b1
Content-Type: application/pdf; name="results.pdf"
Content-Disposition: attachment; filename="results.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK
--b1--
`)
}

// wrapperParts parses a wrapper mail: its header, the plain notice, and the
// envelope file.
func wrapperParts(t *testing.T, data []byte) (*mail.Message, string, string, *envelope.File) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var notice, html string
	var file *envelope.File
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if ct == "multipart/alternative" {
			ar := multipart.NewReader(p, pp["boundary"])
			for {
				q, err := ar.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(q) // multipart decodes quoted-printable
				if strings.HasPrefix(q.Header.Get("Content-Type"), "text/plain") {
					notice = string(b)
				} else {
					html = string(b)
				}
			}
			continue
		}
		if !strings.HasPrefix(p.FileName(), "securedoc_") || !strings.HasSuffix(p.FileName(), ".html") {
			t.Fatalf("attachment named %q", p.FileName())
		}
		b, _ := io.ReadAll(p)
		if file, err = envelope.ParseHTML(b); err != nil {
			t.Fatal(err)
		}
	}
	if file == nil || notice == "" || html == "" {
		t.Fatalf("wrapper mail lacks a part: notice %v html %v file %v", notice != "", html != "", file != nil)
	}
	return m, notice, html, file
}

func decodeSubject(t *testing.T, m *mail.Message) string {
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bodyText(t *testing.T, data []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
	return string(b)
}

// TestTriggeredEndToEnd: a triggered message to one internal, one external and
// one Bcc recipient, through real SMTP and a real key server.
func TestTriggeredEndToEnd(t *testing.T) {
	e := startGateway(t, gwOptions{})
	msg := labMessage("[send secure] Lab results")
	rcpts := []string{"carol@hospital.example", "bob@patient.example", "dave@elsewhere.example"} // dave is Bcc
	if se := submit(t, e.addr, "alice@hospital.example", rcpts, msg); se != nil {
		t.Fatalf("DATA answered %v", se)
	}

	// The internal copy: unchanged apart from the Received header on top.
	internal := e.hop.to("carol@hospital.example")
	if len(internal) != 1 || len(internal[0].To) != 1 {
		t.Fatalf("internal copies: %+v", internal)
	}
	got := internal[0].Data
	if !bytes.HasPrefix(got, []byte("Received: from mta.hospital.example (127.0.0.1)\r\n\tby gateway.test (waxseal) with ESMTP id ")) || !bytes.HasSuffix(got, msg) {
		t.Errorf("internal copy is not the original with a trace header:\n%.300s", got)
	}
	if n := len(got) - len(msg); n > 200 {
		t.Errorf("internal copy has %d bytes more than the original", n)
	}

	// One envelope each for the external and the Bcc recipient.
	b := &browser{k: e.ks}
	for _, rcpt := range []string{"bob@patient.example", "dave@elsewhere.example"} {
		copies := e.hop.to(rcpt)
		if len(copies) != 1 || len(copies[0].To) != 1 || copies[0].From != "alice@hospital.example" {
			t.Fatalf("%s: copies %+v", rcpt, copies)
		}
		data := copies[0].Data
		if bytes.Contains(data, []byte("Dear Bob")) || bytes.Contains(data, []byte("JVBERi0")) {
			t.Fatalf("%s: plaintext in the wrapper mail", rcpt)
		}
		if rcpt == "bob@patient.example" && bytes.Contains(data, []byte("dave@")) {
			t.Errorf("the Bcc recipient shows in another recipient's mail")
		}
		m, notice, _, file := wrapperParts(t, data)
		if s := decodeSubject(t, m); s != "Lab results" {
			t.Errorf("%s: subject %q, want the trigger removed", rcpt, s)
		}
		if to := m.Header.Get("To"); to != rcpt {
			t.Errorf("To: %q, want %q", to, rcpt)
		}
		if from, _ := m.Header.AddressList("From"); len(from) != 1 || from[0].Address != "alice@hospital.example" {
			t.Errorf("From: %v", from)
		}
		if !strings.Contains(notice, publicURL+"/e/"+file.Header.ID.String()+"#k=") {
			t.Errorf("notice lacks the open-online link:\n%s", notice)
		}
		if file.Header.To != rcpt || file.Header.Subject != "Lab results" {
			t.Errorf("envelope header %+v", file.Header)
		}
		bb := b
		if rcpt == "dave@elsewhere.example" {
			bb = &browser{k: e.ks}
		}
		if opened := e.ks.openAs(bb, file); !bytes.Equal(opened, msg) {
			t.Errorf("%s: the envelope opens to %d bytes, not the original %d", rcpt, len(opened), len(msg))
		}
		// The online blob was registered too.
		resp, err := http.Get(e.ks.srv.URL + "/api/v1/envelopes/" + file.Header.ID.String() + "/payload")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("online payload: %v %v", resp.StatusCode, err)
		} else {
			resp.Body.Close()
		}
	}
	// Bob may not open Dave's envelope.
	daveFile := func() *envelope.File {
		_, _, _, f := wrapperParts(t, e.hop.to("dave@elsewhere.example")[0].Data)
		return f
	}()
	if st, _ := b.call("POST", "/api/v1/envelopes/"+daveFile.Header.ID.String()+"/key", nil); st != http.StatusForbidden {
		t.Errorf("Bob released Dave's key: %d", st)
	}

	// The sender's confirmation.
	conf := e.hop.to("alice@hospital.example")
	if len(conf) != 1 || conf[0].From != "" {
		t.Fatalf("confirmations: %+v", conf)
	}
	cm, _ := mail.ReadMessage(bytes.NewReader(conf[0].Data))
	if s := decodeSubject(t, cm); s != "Sent securely: Lab results" {
		t.Errorf("confirmation subject %q", s)
	}
	text := bodyText(t, conf[0].Data)
	for _, want := range []string{"bob@patient.example: secure envelope", "dave@elsewhere.example: secure envelope",
		"carol@hospital.example: delivered as it is", "results.pdf", "Subject:  Lab results", "Sent:     "} {
		if !strings.Contains(text, want) {
			t.Errorf("confirmation lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "send secure") {
		t.Errorf("confirmation shows the trigger")
	}
	if n := len(e.hop.received()); n != 4 {
		t.Errorf("the hop got %d messages, want 4 (internal, 2 envelopes, confirmation)", n)
	}
}

// TestPassThroughByteForByte: untriggered mail leaves as it came, plus a
// Received header, whatever its bytes.
func TestPassThroughByteForByte(t *testing.T) {
	e := startGateway(t, gwOptions{})
	msgs := [][]byte{
		labMessage("Lab results"),
		labMessage("send YourMessage secure"),
		labMessage("Results PHI: Bob"),
		append(crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"), "Fran\xe7ois\r\n\x00\xff odd bytes\r\n.leading dot\r\n"...),
	}
	for i, msg := range msgs {
		rcpt := "bob" + string(rune('a'+i)) + "@patient.example"
		if se := submit(t, e.addr, "alice@hospital.example", []string{rcpt}, msg); se != nil {
			t.Fatalf("message %d: %v", i, se)
		}
		got := e.hop.to(rcpt)
		if len(got) != 1 {
			t.Fatalf("message %d: %d copies", i, len(got))
		}
		if !bytes.HasSuffix(got[0].Data, msg) || !bytes.HasPrefix(got[0].Data, []byte("Received: ")) {
			t.Errorf("message %d changed on the way", i)
		}
		if _, rest, _ := bytes.Cut(got[0].Data, []byte("\r\n\t")); !bytes.Equal(got[0].Data[len(got[0].Data)-len(msg):], msg) || rest == nil {
			t.Errorf("message %d: not trace header + original", i)
		}
	}
	if c := e.hop.to("alice@hospital.example"); len(c) != 0 {
		t.Errorf("untriggered mail made a confirmation")
	}
}

func TestBccHeaderNeverLeaves(t *testing.T) {
	e := startGateway(t, gwOptions{})
	msg := crlf("From: alice@hospital.example\nTo: bob@patient.example\nBcc: dave@elsewhere.example,\n eve@hospital.example\nSubject: PHI: scan\n\nbody\n")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example", "dave@elsewhere.example", "eve@hospital.example"}, msg); se != nil {
		t.Fatal(se)
	}
	want := crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: PHI: scan\n\nbody\n")
	internal := e.hop.to("eve@hospital.example")
	if len(internal) != 1 || !bytes.HasSuffix(internal[0].Data, want) {
		t.Fatalf("internal copy still has the Bcc header:\n%s", internal[0].Data)
	}
	_, _, _, f := wrapperParts(t, e.hop.to("bob@patient.example")[0].Data)
	if opened := e.ks.openAs(&browser{k: e.ks}, f); !bytes.Equal(opened, want) {
		t.Errorf("the envelope holds:\n%s", opened)
	}
}

// TestKeyServerDown: 451 with a clear text, and nothing relayed.
func TestKeyServerDown(t *testing.T) {
	e := startGateway(t, gwOptions{})
	e.ks.srv.Close()
	se := submit(t, e.addr, "alice@hospital.example", []string{"carol@hospital.example", "bob@patient.example"}, labMessage("PHI: results"))
	if se == nil || se.Code != 451 || !strings.Contains(se.Message, "key server") || !strings.Contains(se.Message, "nothing was sent") {
		t.Fatalf("DATA answered %v, want 451 naming the key server", se)
	}
	if got := e.hop.received(); len(got) != 0 {
		t.Errorf("relayed %d messages with the key server down", len(got))
	}
	entries, _ := e.spool.List()
	if len(entries) != 0 {
		t.Errorf("spooled %d entries", len(entries))
	}
}

// slowRegistrar never answers in time.
type slowRegistrar struct{}

func (slowRegistrar) RegisterEnvelopes(ctx context.Context, _ []client.Registration) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestKeyServerSlow(t *testing.T) {
	e := startGateway(t, gwOptions{registrar: slowRegistrar{}, tweak: func(c *Config) { c.RegisterTimeout = 200 * time.Millisecond }})
	se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("send secure results"))
	if se == nil || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 4, 3}) || !strings.Contains(se.Message, "did not answer within 200ms") {
		t.Fatalf("DATA answered %v", se)
	}
	if len(e.hop.received()) != 0 {
		t.Error("relayed with a slow key server")
	}
}

// TestNextHopDownSpools: nothing acknowledged is lost. The copies wait in the
// spool (never in plaintext for the external recipient) and go out once the hop
// is back.
func TestNextHopDownSpools(t *testing.T) {
	e := startGateway(t, gwOptions{})
	e.hop.stop()
	msg := labMessage("PHI: results")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"carol@hospital.example", "bob@patient.example"}, msg); se != nil {
		t.Fatalf("DATA answered %v, want 250 once spooled", se)
	}
	entries, err := e.spool.List()
	if err != nil || len(entries) != 3 { // internal copy, envelope, confirmation
		t.Fatalf("spool: %d entries (%v)", len(entries), err)
	}
	for _, en := range entries {
		b, _ := e.spool.Message(en.ID)
		for _, r := range en.To {
			if r == "bob@patient.example" && bytes.Contains(b, []byte("Dear Bob")) {
				t.Fatal("plaintext spooled for the external recipient")
			}
		}
	}
	if n := e.g.RetryOnce(context.Background()); n != 0 {
		t.Fatalf("retried before due: %d", n)
	}
	// The hop comes back on the same address; the entries fall due.
	e.hop.restart()
	h2 := e.hop
	e.g.cfg.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if n := e.g.RetryOnce(context.Background()); n != 3 {
		t.Fatalf("delivered %d from the spool, want 3", n)
	}
	if got := h2.to("carol@hospital.example"); len(got) != 1 || !bytes.HasSuffix(got[0].Data, msg) {
		t.Error("internal copy not delivered from the spool")
	}
	if got := h2.to("bob@patient.example"); len(got) != 1 || bytes.Contains(got[0].Data, []byte("Dear Bob")) {
		t.Error("envelope not delivered from the spool")
	}
	if entries, _ := e.spool.List(); len(entries) != 0 {
		t.Errorf("%d entries left", len(entries))
	}
}

func TestNextHopDownWithoutSpool(t *testing.T) {
	e := startGateway(t, gwOptions{noSpool: true})
	e.hop.stop()
	se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("results"))
	if se == nil || se.Code != 451 {
		t.Fatalf("DATA answered %v, want 451", se)
	}
}

// TestGiveUpSendsNonDelivery: a spooled copy that never goes out is reported.
func TestGiveUpSendsNonDelivery(t *testing.T) {
	e := startGateway(t, gwOptions{})
	e.hop.mu.Lock()
	e.hop.fail = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	e.hop.mu.Unlock()
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("PHI: results")); se != nil {
		t.Fatal(se)
	}
	e.hop.mu.Lock()
	e.hop.fail = nil
	e.hop.mu.Unlock()
	// The confirmation goes out now; the envelope is refused for good.
	e.g.cfg.Now = func() time.Time { return time.Now().Add(49 * time.Hour) }
	e.hop.mu.Lock()
	e.hop.fail = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	e.hop.mu.Unlock()
	e.g.RetryOnce(context.Background())
	e.hop.mu.Lock()
	e.hop.fail = nil
	e.hop.mu.Unlock()
	e.g.cfg.Now = func() time.Time { return time.Now().Add(51 * time.Hour) }
	e.g.RetryOnce(context.Background()) // the notice spooled meanwhile
	var ndn string
	for _, r := range e.hop.to("alice@hospital.example") {
		if s := bodyText(t, r.Data); strings.Contains(s, "could not be delivered") {
			ndn = s
		}
	}
	if !strings.Contains(ndn, "bob@patient.example") || !strings.Contains(ndn, "no such user") || !strings.Contains(ndn, "secure envelope") {
		t.Errorf("non-delivery notice:\n%s", ndn)
	}
}

// TestConfirmationAfterRefusal: when the next hop refuses one recipient's
// envelope for good, the sender gets a non-delivery notice for it, and the
// confirmation says it was not delivered instead of "secure envelope"; when it
// refuses every envelope, there is no confirmation at all.
func TestConfirmationAfterRefusal(t *testing.T) {
	e := startGateway(t, gwOptions{})
	e.hop.mu.Lock()
	e.hop.refuse = map[string]*smtp.SMTPError{"bob@patient.example": {Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "message file too big"}}
	e.hop.mu.Unlock()
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example", "dave@patient.example", "carol@hospital.example"}, labMessage("PHI: results")); se != nil {
		t.Fatal(se)
	}
	var ndn, conf string
	for _, r := range e.hop.to("alice@hospital.example") {
		switch s := bodyText(t, r.Data); {
		case strings.Contains(s, "could not be delivered"):
			ndn = s
		case strings.Contains(s, "sent securely"):
			conf = s
		}
	}
	if !strings.Contains(ndn, "bob@patient.example") || !strings.Contains(ndn, "message file too big") {
		t.Errorf("non-delivery notice:\n%s", ndn)
	}
	for _, want := range []string{"bob@patient.example: NOT DELIVERED", "dave@patient.example: secure envelope", "carol@hospital.example: delivered as it is"} {
		if !strings.Contains(conf, want) {
			t.Errorf("confirmation lacks %q:\n%s", want, conf)
		}
	}
	if len(e.hop.to("dave@patient.example")) != 1 || len(e.hop.to("carol@hospital.example")) != 1 {
		t.Error("the copies the next hop took are missing")
	}

	e.hop.mu.Lock()
	e.hop.got = nil
	e.hop.mu.Unlock()
	// Refused for the only recipient: nothing went, so the client gets the
	// refusal (and bounces it); no notice, and no confirmation.
	msg := labMessage("PHI: results again")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, msg); se == nil || se.Code != 554 || !strings.Contains(se.Message, "message file too big") {
		t.Errorf("a message refused for its only recipient: %v, want 554 with the next hop's words", se)
	}
	if n := len(e.hop.to("alice@hospital.example")); n != 0 {
		t.Errorf("%d notices for a message whose refusal went back to the client", n)
	}
	// Refused for one of two external recipients: the notice, and a
	// confirmation naming only the other as sent securely.
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example", "dave@patient.example"}, msg); se != nil {
		t.Fatal(se)
	}
	if n := len(e.hop.to("alice@hospital.example")); n != 2 {
		t.Errorf("%d notices, want the non-delivery notice and the confirmation", n)
	}
	// Refused for the only external recipient, while the internal one got
	// it: the notice, and no "sent securely", since nothing was.
	e.hop.mu.Lock()
	e.hop.got = nil
	e.hop.mu.Unlock()
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example", "carol@hospital.example"}, msg); se != nil {
		t.Fatal(se)
	}
	notices := e.hop.to("alice@hospital.example")
	if len(notices) != 1 || !strings.Contains(bodyText(t, notices[0].Data), "could not be delivered") {
		t.Errorf("%d notices, want only the non-delivery notice", len(notices))
	}
}

// TestOversize: 552 with the limit named, and a bounce to the sender.
func TestOversize(t *testing.T) {
	e := startGateway(t, gwOptions{tweak: func(c *Config) { c.MaxMessageBytes = 64 << 10; c.MaxAttachmentBytes = 16 << 10 }})
	big := append(crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: PHI: big\n\n"), bytes.Repeat([]byte("0123456789abcde\r\n"), 5000)...)
	se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, big)
	if se == nil || se.Code != 552 || se.Message != fmt.Sprintf("Message is %d bytes; secure mail is limited to 65536 bytes", len(big)) {
		t.Fatalf("oversize message: %v", se)
	}
	// An attachment over its own limit, in a message under the message limit.
	att := crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: PHI: scan\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhi\n--x\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"scan.tif\"\nContent-Transfer-Encoding: base64\n\n")
	att = append(att, bytes.Repeat([]byte("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n"), 400)...)
	att = append(att, crlf("--x--\n")...)
	se = submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, att)
	if se == nil || se.Code != 552 || !strings.Contains(se.Message, "attachment 1 (MIME part 2)") || !strings.Contains(se.Message, "16384 bytes") {
		t.Fatalf("oversize attachment: %v", se)
	}
	bounces := e.hop.to("alice@hospital.example")
	if len(bounces) != 2 {
		t.Fatalf("%d bounces, want 2", len(bounces))
	}
	if s := bodyText(t, bounces[0].Data); !strings.Contains(s, fmt.Sprintf("Message is %d bytes; secure mail is limited to 65536 bytes", len(big))) || !strings.Contains(s, "not sent to anyone") {
		t.Errorf("bounce:\n%s", s)
	}
	if s := bodyText(t, bounces[1].Data); !strings.Contains(s, "attachment 1 (MIME part 2)") {
		t.Errorf("bounce:\n%s", s)
	}
	if len(e.hop.to("bob@patient.example")) != 0 {
		t.Error("an oversize message was relayed")
	}
	// SIZE is advertised, and a declared size over it is refused at MAIL.
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Hello("mta.hospital.example")
	// SIZE is advertised without a number: a client then sends MAIL with its
	// SIZE= and gets (and bounces with) the reply naming size and limit.
	if ok, v := c.Extension("SIZE"); !ok || v != "" {
		t.Errorf("SIZE %v %q", ok, v)
	}
	for _, ext := range []string{"8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "PIPELINING"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("%s not advertised", ext)
		}
	}
	if err := c.Mail("alice@hospital.example", &smtp.MailOptions{Size: 11744051}); err == nil ||
		!strings.Contains(err.Error(), "552") || !strings.Contains(err.Error(), "Message is 11.2 MB; secure mail is limited to 65536 bytes") {
		t.Errorf("MAIL with SIZE over the limit: %v", err)
	}
}

// TestForcedTLS: a forced-TLS recipient with a next hop that offers no
// STARTTLS is a temporary failure, never a plaintext delivery; with STARTTLS it
// goes out encrypted.
func TestForcedTLS(t *testing.T) {
	e := startGateway(t, gwOptions{})
	msg := labMessage("PHI: claim")
	for _, rcpt := range [][]string{{"eve@insurer.example"}, {"eve@insurer.example", "bob@patient.example", "carol@hospital.example"}} {
		se := submit(t, e.addr, "alice@hospital.example", rcpt, msg)
		if se == nil || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 7, 10}) || !strings.Contains(se.Message, "TLS") {
			t.Fatalf("DATA answered %v, want 451 4.7.10", se)
		}
		if got := e.hop.received(); len(got) != 0 {
			t.Fatalf("the hop got %d messages without TLS", len(got))
		}
	}

	s := startGateway(t, gwOptions{hopTLS: true})
	if se := submit(t, s.addr, "alice@hospital.example", []string{"eve@insurer.example", "dan@partner.example", "carol@hospital.example"}, msg); se != nil {
		t.Fatal(se)
	}
	for _, r := range s.hop.received() {
		if strings.HasSuffix(r.To[0], "insurer.example") || strings.HasSuffix(r.To[0], "partner.example") {
			if !r.TLS || !bytes.HasSuffix(r.Data, msg) {
				t.Errorf("%v: TLS %v, unchanged %v", r.To, r.TLS, bytes.HasSuffix(r.Data, msg))
			}
		}
	}
	if got := s.hop.to("eve@insurer.example"); len(got) != 1 || len(got[0].To) != 2 {
		t.Errorf("TLS copies: %+v", got)
	}
}

// TestPlaintextGuard: whatever builds a delivery, a triggered message does not
// leave as it is for an external recipient, inline or from the spool.
func TestPlaintextGuard(t *testing.T) {
	e := startGateway(t, gwOptions{})
	msg := labMessage("=?utf-8?q?PHI=3A_results?=")
	for _, d := range []delivery{
		{from: "alice@hospital.example", to: []string{"bob@patient.example"}, msg: msg, kind: kindOriginal},
		{from: "alice@hospital.example", to: []string{"carol@hospital.example", "bob@patient.example"}, msg: msg, kind: kindOriginal},
		{from: "alice@hospital.example", to: []string{"bob@patient.example"}, msg: msg, requireTLS: true, kind: kindOriginal},
		{from: "alice@hospital.example", to: []string{"eve@insurer.example"}, msg: labMessage("results"), kind: kindOriginal}, // TLS required
		{from: "alice@hospital.example", to: []string{"bob@patient.example"}, msg: []byte("Subject: a\r\nSubject: b\r\n\r\n"), kind: kindOriginal},
		{from: "alice@hospital.example", to: []string{"bob@patient.example"}, msg: []byte("no header at all"), kind: kindOriginal},
	} {
		if err := e.g.relay(context.Background(), d); !errors.Is(err, errPlaintextRefused) {
			t.Errorf("relay to %v: %v, want refusal", d.to, err)
		}
	}
	// An entry put in the spool by anything (a bug, a hand) is checked too.
	if _, err := e.spool.Put(spoolEntry("bob@patient.example"), msg); err != nil {
		t.Fatal(err)
	}
	e.g.cfg.Now = func() time.Time { return time.Now().Add(time.Hour) }
	e.g.RetryOnce(context.Background())
	if got := e.hop.to("bob@patient.example"); len(got) != 0 {
		t.Fatal("plaintext relayed")
	}
	// The guard lets the legitimate ones through.
	if err := e.g.relay(context.Background(), delivery{from: "alice@hospital.example", to: []string{"carol@hospital.example"}, msg: msg}); err != nil {
		t.Errorf("internal copy refused: %v", err)
	}
}

// TestHostileInput: malformed messages get a clear 5xx and a bounce; markup in
// subjects and names never becomes markup.
func TestHostileInput(t *testing.T) {
	e := startGateway(t, gwOptions{})
	for _, c := range []struct {
		name, msg, want string
	}{
		{"header with no colon", "From alice\r\nSubject: PHI: x\r\n\r\nbody\r\n", "line 1 of the header is not a header field"},
		{"two subjects", "From: alice@hospital.example\r\nSubject: hello\r\nSubject: PHI: x\r\n\r\nb\r\n", "2 Subject headers"},
		{"broken multipart", "From: alice@hospital.example\r\nSubject: PHI: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n", "could not be read"},
	} {
		se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, []byte(c.msg))
		if se == nil || se.Code/100 != 5 || !strings.Contains(se.Message, c.want) {
			t.Errorf("%s: %v, want 5xx saying %q", c.name, se, c.want)
		}
	}
	if got := e.hop.to("bob@patient.example"); len(got) != 0 {
		t.Errorf("relayed malformed mail")
	}
	if n := len(e.hop.to("alice@hospital.example")); n != 3 {
		t.Errorf("%d bounces, want 3", n)
	}

	evil := crlf("From: \"<script>alert(1)</script>\" <alice@hospital.example>\nSubject: PHI: <script>alert(2)</script>\u202e\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/plain\n\nx\n--q\nContent-Type: text/html\nContent-Disposition: attachment; filename=\"<img src=x onerror=alert(3)>.html\"\n\n<script>alert(4)</script>\n--q--\n")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, evil); se != nil {
		t.Fatal(se)
	}
	_, _, html, _ := wrapperParts(t, e.hop.to("bob@patient.example")[0].Data)
	if strings.Contains(html, "<script") || !strings.Contains(html, "&lt;script&gt;") {
		t.Errorf("wrapper notice does not escape the subject:\n%s", html)
	}
	conf := e.hop.to("alice@hospital.example")
	last := conf[len(conf)-1]
	if ct := last.Data; !bytes.Contains(ct, []byte("Content-Type: text/plain")) || bytes.Contains(ct, []byte("text/html")) {
		t.Error("the confirmation is not plain text")
	}
	if s := bodyText(t, last.Data); strings.ContainsRune(s, '\u202e') || !strings.Contains(s, "onerror=alert(3)>.html") {
		t.Errorf("confirmation:\n%s", s)
	}
}

func TestClientNetworksAndAuth(t *testing.T) {
	e := startGateway(t, gwOptions{tweak: func(c *Config) { c.ClientNetworks = nil }})
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("outsider.example"); err == nil || !strings.Contains(err.Error(), "554") || !strings.Contains(err.Error(), "may not send") {
		t.Errorf("outsider greeted: %v", err)
	}

	a := startGateway(t, gwOptions{tweak: func(c *Config) {
		c.ClientNetworks = nil
		c.Users = map[string]string{"mta": "sha256:" + sha256hex("s3cret password")}
	}})
	c2, err := smtp.Dial(a.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Hello("mta.hospital.example"); err != nil {
		t.Fatal(err)
	}
	if err := c2.Mail("alice@hospital.example", nil); err == nil || !strings.Contains(err.Error(), "530") {
		t.Errorf("MAIL without AUTH: %v", err)
	}
}

func TestOutboxDrainedByGateway(t *testing.T) {
	e := startGateway(t, gwOptions{})
	// The key server queues a code (registration for an envelope it holds).
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("PHI: results")); se != nil {
		t.Fatal(se)
	}
	_, _, _, f := wrapperParts(t, e.hop.to("bob@patient.example")[0].Data)
	b := &browser{k: e.ks}
	if st, out := b.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": f.Header.ID.String(), "first_name": "Bob", "last_name": "P"}); st != http.StatusAccepted {
		t.Fatalf("register/start: %d %v", st, out)
	}
	ctx := context.Background()
	c := e.ks.client()
	if n, err := c.OutboxDepth(ctx); err != nil || n != 1 {
		t.Fatalf("depth %d %v", n, err)
	}
	// Two drainers: the second gets nothing while the first holds the lease.
	first, err := c.LeaseMail(ctx, 10, time.Minute)
	if err != nil || len(first) != 1 {
		t.Fatalf("lease: %v %v", first, err)
	}
	if second, err := c.LeaseMail(ctx, 10, time.Minute); err != nil || len(second) != 0 {
		t.Fatalf("second lease: %v %v", second, err)
	}
	if err := c.MailDone(ctx, first[0].ID, "wrong"); err == nil || !strings.Contains(err.Error(), "lease_lost") {
		t.Errorf("done with a wrong lease: %v", err)
	}
	if err := c.MailRetry(ctx, first[0].ID, first[0].Lease, 1, time.Now().Add(-time.Second), "test"); err != nil {
		t.Fatal(err)
	}
	// Through the gateway's drainer: mailer.Drainer over the API.
	ob := NewRemoteOutbox(c, time.Minute)
	d := newTestDrainer(ob, e.g)
	sent, failed, err := d.DrainOnce(ctx)
	if err != nil || sent != 1 || failed != 0 {
		t.Fatalf("drain: sent %d failed %d %v", sent, failed, err)
	}
	got := e.hop.to("bob@patient.example")
	if len(got) != 2 || !codeRE.Match(got[1].Data) {
		t.Fatalf("the code did not reach the hop: %d messages", len(got))
	}
	if n, _ := c.OutboxDepth(ctx); n != 0 {
		t.Errorf("depth after drain %d", n)
	}
}

// TestStartTLSAndAuth: with a certificate, STARTTLS is offered; AUTH only inside
// TLS, and then a client outside the client networks may submit.
func TestStartTLSAndAuth(t *testing.T) {
	cert := selfSigned(t)
	e := startGateway(t, gwOptions{tweak: func(c *Config) {
		c.ClientNetworks = nil
		c.Users = map[string]string{"mta": "sha256:" + sha256hex("s3cret password")}
		c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}})
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mta.hospital.example"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before TLS")
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	c, err = smtp.DialStartTLS(e.addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mta.hospital.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "mta", "wrong password")); err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("wrong password: %v", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "mta", "s3cret password")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("alice@hospital.example", []string{"bob@patient.example"}, bytes.NewReader(labMessage("PHI: x"))); err != nil {
		t.Fatal(err)
	}
	got := e.hop.to("bob@patient.example")
	if len(got) != 1 || !bytes.Contains(got[0].Data, []byte("securedoc_")) {
		t.Fatal("no envelope relayed")
	}
}

// countingRegistrar records each registration call on its way to the key server.
type countingRegistrar struct {
	next  Registrar
	mu    sync.Mutex
	calls [][]client.Registration
}

func (c *countingRegistrar) RegisterEnvelopes(ctx context.Context, regs []client.Registration) error {
	c.mu.Lock()
	c.calls = append(c.calls, regs)
	c.mu.Unlock()
	return c.next.RegisterEnvelopes(ctx, regs)
}

// TestOneBatchOneEncryption: three external recipients cost one registration
// call, and their envelopes share one ciphertext (the payload is encrypted once),
// which the key server is given and stores once, and from which it serves each
// envelope's online blob.
func TestOneBatchOneEncryption(t *testing.T) {
	ks := startKeyServer(t)
	reg := &countingRegistrar{next: ks.client()}
	e := startGateway(t, gwOptions{registrar: reg})
	rcpts := []string{"bob@patient.example", "dave@elsewhere.example", "erin@clinic.example"}
	if se := submit(t, e.addr, "alice@hospital.example", rcpts, labMessage("PHI: results")); se != nil {
		t.Fatal(se)
	}
	if len(reg.calls) != 1 || len(reg.calls[0]) != 3 {
		t.Fatalf("registration calls: %d, want 1 with 3 envelopes", len(reg.calls))
	}
	var ciphertext []byte
	for i, r := range reg.calls[0] {
		if r.Online != nil || len(r.Ciphertext) == 0 {
			t.Fatal("registered without the shared ciphertext, or with a whole online blob")
		}
		_, _, _, f := wrapperParts(t, e.hop.to(r.Envelope.Header.To)[0].Data)
		if i == 0 {
			ciphertext = f.Ciphertext
		} else if !bytes.Equal(f.Ciphertext, ciphertext) || &r.Ciphertext[0] != &reg.calls[0][0].Ciphertext[0] {
			t.Errorf("%s's envelope has its own ciphertext", r.Envelope.Header.To)
		}
		if !bytes.Equal(r.Ciphertext, f.Ciphertext) {
			t.Errorf("the registered ciphertext is not the envelope's")
		}
	}
	sum := sha256.Sum256(ciphertext)
	if got, err := ks.store.Ciphertext(t.Context(), sum); err != nil || !bytes.Equal(got, ciphertext) {
		t.Errorf("the key server does not hold the shared ciphertext: %v", err)
	}
	// Each envelope opens (through the key server the gateway registered with),
	// from its file and from the online blob the key server assembles.
	for _, r := range reg.calls[0] {
		_, notice, _, f := wrapperParts(t, e.hop.to(r.Envelope.Header.To)[0].Data)
		b := &browser{k: ks}
		if got := ks.openAs(b, f); !bytes.Equal(got, labMessage("PHI: results")) {
			t.Errorf("%s: opens to other bytes", r.Envelope.Header.To)
		}
		m := regexp.MustCompile(`#k=([A-Za-z0-9_-]+)`).FindStringSubmatch(notice)
		if m == nil {
			t.Fatalf("no key in the notice's link:\n%s", notice)
		}
		envKey, err := envelope.ParseKey(m[1])
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(ks.srv.URL + "/api/v1/envelopes/" + r.Envelope.Header.ID.String() + "/payload")
		if err != nil {
			t.Fatal(err)
		}
		blob, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		online, err := envelope.ParseOnline(blob, envKey)
		if err != nil {
			t.Fatalf("%s: online blob (%d): %v", r.Envelope.Header.To, resp.StatusCode, err)
		}
		if got := ks.openAs(b, online); !bytes.Equal(got, labMessage("PHI: results")) {
			t.Errorf("%s: the online blob opens to other bytes", r.Envelope.Header.To)
		}
	}
}

// blockingRegistrar holds registrations until released.
type blockingRegistrar struct{ release, entered chan struct{} }

func (b blockingRegistrar) RegisterEnvelopes(ctx context.Context, _ []client.Registration) error {
	if b.entered != nil {
		b.entered <- struct{}{}
	}
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestBusy: beyond MaxConcurrent messages at once, a message waits BusyWait for a
// slot and then gets a 451, so memory stays bounded.
func TestBusy(t *testing.T) {
	reg := blockingRegistrar{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	e := startGateway(t, gwOptions{registrar: reg, tweak: func(c *Config) { c.MaxConcurrent = 1; c.BusyWait = 100 * time.Millisecond }})
	first := make(chan *smtp.SMTPError, 1)
	go func() {
		first <- submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("PHI: one"))
	}()
	<-reg.entered // the first holds the slot, waiting on the key server
	se := submit(t, e.addr, "alice@hospital.example", []string{"carol@hospital.example"}, labMessage("two"))
	if se == nil || se.Code != 451 || !strings.Contains(se.Message, "busy") {
		t.Errorf("second message: %v, want 451 busy", se)
	}
	close(reg.release)
	if se := <-first; se != nil {
		t.Errorf("first message: %v", se)
	}
	if se := submit(t, e.addr, "alice@hospital.example", []string{"carol@hospital.example"}, labMessage("three")); se != nil {
		t.Errorf("after the slot freed: %v", se)
	}
}

// heldRegistrar holds each registration until given its outcome.
type heldRegistrar struct{ outcome chan error }

func (h heldRegistrar) RegisterEnvelopes(ctx context.Context, _ []client.Registration) error {
	select {
	case err := <-h.outcome:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gateSpy reports each copy whose data is written, waiting at its gate.
type gateSpy struct {
	GatedRelay
	gated chan struct{}
}

func (g gateSpy) Send(ctx context.Context, from string, to []string, msg []byte, requireTLS bool) error {
	return g.GatedRelay.(Relay).Send(ctx, from, to, msg, requireTLS)
}

func (g gateSpy) SendGated(ctx context.Context, from string, to []string, msg []byte, requireTLS bool, gate func(context.Context) error) error {
	return g.GatedRelay.SendGated(ctx, from, to, msg, requireTLS, func(ctx context.Context) error {
		g.gated <- struct{}{}
		return gate(ctx)
	})
}

// TestNothingTakenBeforeKeys: the copies go to the next hop while the keys
// register, but with their end of data withheld, so the hop takes none until the
// keys are held; when registration fails it has taken nothing, not even the
// internal recipient's plain copy, and nothing is spooled.
func TestNothingTakenBeforeKeys(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%t", fail), func(t *testing.T) {
			reg := heldRegistrar{outcome: make(chan error)}
			spy := gateSpy{gated: make(chan struct{}, 16)}
			e := startGateway(t, gwOptions{registrar: reg, tweak: func(c *Config) {
				spy.GatedRelay = c.Relay.(GatedRelay)
				c.Relay = spy
			}})
			done := make(chan *smtp.SMTPError, 1)
			go func() {
				done <- submit(t, e.addr, "alice@hospital.example", []string{"carol@hospital.example", "bob@patient.example"}, labMessage("PHI: results"))
			}()
			<-spy.gated // the first copy is at its end of data
			if got := e.hop.received(); len(got) != 0 {
				t.Fatalf("the hop took %d messages before the keys were registered", len(got))
			}
			var outcome error
			if fail {
				outcome = errors.New("refused")
			}
			reg.outcome <- outcome
			se := <-done
			if fail {
				if se == nil || se.Code != 451 {
					t.Fatalf("DATA answered %v, want 451", se)
				}
				for range 1 + len(spy.gated) { // the hop saw each gated copy's connection drop
					<-e.hop.dataEnded
				}
				if got := e.hop.received(); len(got) != 0 {
					t.Errorf("the hop took %d messages whose keys were never registered", len(got))
				}
				if entries, _ := e.spool.List(); len(entries) != 0 {
					t.Errorf("spooled %d entries", len(entries))
				}
				return
			}
			if se != nil {
				t.Fatalf("DATA answered %v", se)
			}
			if len(e.hop.to("carol@hospital.example")) != 1 || len(e.hop.to("bob@patient.example")) != 1 {
				t.Errorf("the hop took %d messages, want the internal copy and an envelope among them", len(e.hop.received()))
			}
		})
	}
}

// TestBodyCheckPanicContained: the body check of a sealed message runs outside
// the SMTP session's goroutine; a panic there refuses that message (and abandons
// its registration) instead of ending the process.
func TestBodyCheckPanicContained(t *testing.T) {
	keys := &registration{done: make(chan struct{})}
	abandoned := false
	sj := &sealJob{keys: keys, log: slog.New(slog.DiscardHandler), cancel: func() {
		abandoned = true
		close(keys.done)
	}}
	err := sj.ready(func() error { panic("a parser bug") }).wait(context.Background())
	var rej *rejection
	if !errors.As(err, &rej) || rej.code != 554 || !strings.Contains(rej.reason, "internal error") {
		t.Errorf("a panicking check: %v, want a 554 refusal", err)
	}
	if !abandoned {
		t.Error("the registration was not abandoned")
	}
}

// TestWrapperMailReply: with a reply key the wrapper mail tells the recipient
// how to reply securely, in its text and HTML parts, and carries the
// organisation's Reply-To when one is configured; without them it does neither.
func TestWrapperMailReply(t *testing.T) {
	const sentence = "To reply securely, open the message and select Reply."
	for _, tc := range []struct {
		name     string
		tweak    func(*Config)
		sentence bool
		replyTo  string
	}{
		{"reply key and Reply-To", func(c *Config) {
			c.ReplyPublicKey = &replyKey.Public
			c.WrapperReplyTo = `"Secure Mail Desk" <secure-reply@hospital.example>`
		}, true, "secure-reply@hospital.example"},
		{"reply key only", func(c *Config) { c.ReplyPublicKey = &replyKey.Public }, true, ""},
		{"neither", nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startGateway(t, gwOptions{tweak: tc.tweak})
			if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("[send secure] Lab results")); se != nil {
				t.Fatalf("DATA answered %v", se)
			}
			copies := e.hop.to("bob@patient.example")
			if len(copies) != 1 {
				t.Fatalf("copies: %+v", copies)
			}
			m, notice, html, _ := wrapperParts(t, copies[0].Data)
			for name, part := range map[string]string{"text": notice, "HTML": html} {
				if got := strings.Contains(part, sentence); got != tc.sentence {
					t.Errorf("%s part has the reply sentence: %v, want %v\n%s", name, got, tc.sentence, part)
				}
			}
			_, has := m.Header["Reply-To"]
			if tc.replyTo == "" {
				if has {
					t.Errorf("Reply-To %q though none is configured", m.Header.Get("Reply-To"))
				}
				return
			}
			rt, err := m.Header.AddressList("Reply-To")
			if err != nil || len(rt) != 1 || rt[0].Address != tc.replyTo || rt[0].Name != "Secure Mail Desk" {
				t.Errorf("Reply-To %q: %v %v", m.Header.Get("Reply-To"), rt, err)
			}
			if from, _ := m.Header.AddressList("From"); len(from) != 1 || from[0].Address != "alice@hospital.example" {
				t.Errorf("From %v: the sender must stay the From", from)
			}
		})
	}
}

// TestWrapperReplyToRefused: a Reply-To that is not an address stops the
// gateway from starting, rather than writing a broken header.
func TestWrapperReplyToRefused(t *testing.T) {
	_, err := New(Config{Relay: gateSpy{}, Policy: newPolicy(t), KeyServer: blockingRegistrar{}, KeyServerURL: publicURL,
		WrapperReplyTo: "secure desk\r\nBcc: x@evil.example"})
	if err == nil || !strings.Contains(err.Error(), "wrapper Reply-To") {
		t.Fatalf("New = %v, want a wrapper Reply-To error", err)
	}
}
