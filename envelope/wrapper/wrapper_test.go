package wrapper

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
)

func testHeader(to string) envelope.Header {
	return envelope.Header{
		KeyServer: "https://keys.example.org",
		From:      "Dr. Alice Example <alice@hospital.example>",
		To:        to,
		Subject:   "Lab results",
		Created:   time.Date(2026, 11, 22, 13, 9, 59, 0, time.UTC),
		Expires:   time.Date(2026, 12, 22, 13, 9, 59, 0, time.UTC),
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func TestWriteMail(t *testing.T) {
	msg := randomBytes(10 << 20)
	p, ct := envelope.EncryptPayload(msg)
	h := testHeader("Bob Patient <bob@patient.example>")
	h.Subject = "Gr\u00fc\u00dfe \u2013 results <b>"
	env, keys, err := p.Seal(h)
	if err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	if err := Write(&wire, env, keys.Env, bytes.NewReader(ct), Options{Online: true}); err != nil {
		t.Fatal(err)
	}
	// With the open-online link, the attachment goes online first too
	// (FORMAT.md §7.5).
	if env.Online {
		t.Fatal("Write changed the envelope")
	}
	onlineEnv := *env
	onlineEnv.Online = true
	var file bytes.Buffer
	if err := onlineEnv.WriteHTML(&file, keys.Env, bytes.NewReader(ct)); err != nil {
		t.Fatal(err)
	}
	if got := onlineEnv.HTMLSize(keys.Env); got != int64(file.Len()) {
		t.Errorf("HTMLSize = %d, file is %d bytes", got, file.Len())
	}

	// Every line is CRLF-terminated ASCII of at most 998 characters: the whole mail
	// can travel as 7bit.
	sc := bufio.NewScanner(bytes.NewReader(wire.Bytes()))
	sc.Buffer(make([]byte, 4096), 4096)
	sc.Split(scanCRLFLines)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) > 998 {
			t.Fatalf("line of %d characters", len(line))
		}
		for _, c := range line {
			if c >= 0x80 || c == '\n' || c == '\r' {
				t.Fatalf("line has byte %#x: %.80q", c, line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	ratio := float64(wire.Len()) / float64(len(msg))
	t.Logf("10 MB message: wrapper mail %d bytes, %.4f x the message", wire.Len(), ratio)
	if ratio > 1.37 {
		t.Errorf("wrapper mail is %.4f x the message, want at most 1.37", ratio)
	}

	m, err := mail.ReadMessage(bytes.NewReader(wire.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subject != h.Subject {
		t.Errorf("Subject = %q (%v), want %q", subject, err, h.Subject)
	}
	if to, err := m.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "bob@patient.example" || to[0].Name != "Bob Patient" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if got := m.Header.Get("X-Waxseal-Envelope"); got != env.Header.ID.String() {
		t.Errorf("X-Waxseal-Envelope = %q", got)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q: %v", mt, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])

	notice, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	_, altParams, _ := mime.ParseMediaType(notice.Header.Get("Content-Type"))
	ar := multipart.NewReader(notice, altParams["boundary"])
	var texts []string
	for {
		part, err := ar.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part) // multipart decodes quoted-printable
		texts = append(texts, part.Header.Get("Content-Type")+"\n"+string(b))
	}
	if len(texts) != 2 || !strings.HasPrefix(texts[0], "text/plain") || !strings.HasPrefix(texts[1], "text/html") {
		t.Fatalf("notice parts: %d, want text/plain then text/html", len(texts))
	}
	online := env.Header.OnlineURL() + "#k=" + envelope.EncodeKey(keys.Env)
	for _, text := range texts {
		if !strings.Contains(text, online) {
			t.Errorf("notice lacks the open-online link:\n%s", text)
		}
		if !strings.Contains(text, env.Header.FileName()) {
			t.Errorf("notice does not name the attachment")
		}
		if strings.Contains(text, "<b>results") || strings.Contains(text, envelope.EncodeKey(keys.Server)) {
			t.Errorf("notice holds raw markup or the server key")
		}
	}

	att, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if got := att.Header.Get("Content-Transfer-Encoding"); got != "7bit" {
		t.Errorf("attachment encoding %q, want 7bit", got)
	}
	if ct := att.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html; charset=us-ascii") {
		t.Errorf("attachment type %q", ct)
	}
	if att.FileName() != env.Header.FileName() || !strings.HasPrefix(att.FileName(), "securedoc_20261122T130959") {
		t.Errorf("attachment name %q", att.FileName())
	}
	body, _ := io.ReadAll(att)
	if !bytes.Equal(body, file.Bytes()) {
		t.Fatal("attachment differs from the securedoc.html file")
	}
	f, err := envelope.ParseHTML(body)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Online {
		t.Error("attachment of a mail with the open-online link does not go online first")
	}
	got, err := f.Open(keys.Server)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("attachment does not open to the message: %v", err)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("more than two parts: %v", err)
	}
}

func TestWriteMailWithoutOnlineLink(t *testing.T) {
	p, ct := envelope.EncryptPayload([]byte("hi"))
	env, keys, _ := p.Seal(testHeader("bob@patient.example"))
	var wire bytes.Buffer
	if err := Write(&wire, env, keys.Env, bytes.NewReader(ct), Options{}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wire.Bytes(), []byte("/e/")) {
		t.Error("notice has an open-online link though the payload is not stored online")
	}
}

// noticeTexts returns the wrapper mail's header and its plain and HTML notice,
// quoted-printable decoded.
func noticeTexts(t *testing.T, wire []byte) (*mail.Message, string, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(wire))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	notice, err := multipart.NewReader(m.Body, params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	_, altParams, _ := mime.ParseMediaType(notice.Header.Get("Content-Type"))
	ar := multipart.NewReader(notice, altParams["boundary"])
	var texts [2]string
	for i := range texts {
		part, err := ar.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		texts[i] = string(b)
	}
	return m, texts[0], texts[1]
}

// TestWriteMailReply: with Reply the notice tells the recipient how to reply
// securely, in both parts; ReplyTo becomes the Reply-To header. Without them
// neither appears.
func TestWriteMailReply(t *testing.T) {
	p, ct := envelope.EncryptPayload([]byte("hi"))
	env, keys, err := p.Seal(testHeader("bob@patient.example"))
	if err != nil {
		t.Fatal(err)
	}
	replyTo := &mail.Address{Name: "Sichere Post – Klinik", Address: "secure-reply@hospital.example"}
	var wire bytes.Buffer
	if err := Write(&wire, env, keys.Env, bytes.NewReader(ct), Options{Reply: true, ReplyTo: replyTo}); err != nil {
		t.Fatal(err)
	}
	m, text, htmlText := noticeTexts(t, wire.Bytes())
	for name, part := range map[string]string{"text": text, "HTML": htmlText} {
		if !strings.Contains(part, "To reply securely, open the message and select Reply.") {
			t.Errorf("%s notice lacks the reply sentence:\n%s", name, part)
		}
	}
	got, err := m.Header.AddressList("Reply-To")
	if err != nil || len(got) != 1 || *got[0] != *replyTo {
		t.Errorf("Reply-To = %q: %v %v, want %v", m.Header.Get("Reply-To"), got, err, replyTo)
	}
	if from, _ := m.Header.AddressList("From"); len(from) != 1 || from[0].Address != "alice@hospital.example" {
		t.Errorf("From = %v: Reply-To must not replace it", from)
	}

	wire.Reset()
	if err := Write(&wire, env, keys.Env, bytes.NewReader(ct), Options{}); err != nil {
		t.Fatal(err)
	}
	m, text, htmlText = noticeTexts(t, wire.Bytes())
	if strings.Contains(text+htmlText, "reply securely") {
		t.Error("notice offers secure reply though Reply is not set")
	}
	if _, ok := m.Header["Reply-To"]; ok {
		t.Errorf("Reply-To %q though none is configured", m.Header.Get("Reply-To"))
	}
}

func scanCRLFLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.Index(data, []byte("\r\n")); i >= 0 {
		return i + 2, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// BenchmarkWrite renders the wrapper mail for a 10 MB message and reports its size
// on the wire relative to the message.
func BenchmarkWrite(b *testing.B) {
	const size = 10 << 20
	p, ct := envelope.EncryptPayload(randomBytes(size))
	env, keys, _ := p.Seal(testHeader("bob@patient.example"))
	b.SetBytes(size)
	var cw countWriter
	for b.Loop() {
		cw = countWriter{}
		if err := Write(&cw, env, keys.Env, bytes.NewReader(ct), Options{Online: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cw.n)/size, "wire/msg")
}
