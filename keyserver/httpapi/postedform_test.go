package httpapi

import (
	"bytes"
	"mime/multipart"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
)

const fuzzBoundary = "waxsealfuzzboundary"

// fuzzForm is a form as securedoc.html posts it, for an envelope of msg.
func fuzzForm(t testing.TB, msg string) (envelope.ID, []byte) {
	p, ct := envelope.EncryptPayload([]byte(msg))
	en, keys, err := p.Seal(envelope.Header{KeyServer: "https://keys.example", From: "a@hospital.example", To: "b@patient.example",
		Subject: "s", Created: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var html bytes.Buffer
	f := &envelope.File{Envelope: *en, EnvKey: keys.Env, Ciphertext: ct}
	if err := f.WriteHTML(&html, keys.Env, bytes.NewReader(ct)); err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, name := range []string{"version", "header", "key", "payload"} {
		start := []byte(`name="` + name + `" value="`)
		i := bytes.Index(html.Bytes(), start)
		rest := html.Bytes()[i+len(start):]
		fields[name] = string(rest[:bytes.IndexByte(rest, '"')])
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.SetBoundary(fuzzBoundary)
	for _, name := range []string{"version", "header", "key", "payload"} {
		mw.WriteField(name, fields[name])
	}
	mw.Close()
	return en.Header.ID, body.Bytes()
}

// FuzzReadPostedForm: whatever is posted, the reader answers without panicking,
// and what it accepts is an online blob of the envelope it was posted for.
func FuzzReadPostedForm(f *testing.F) {
	id, form := fuzzForm(f, "fuzz seed message")
	f.Add(form)
	f.Add(form[:len(form)/2])
	f.Add(bytes.Replace(form, []byte(`name="payload"`), []byte(`name="header"`), 1))
	f.Add(bytes.Replace(form, []byte(`name="version"`), []byte(`name="payload"`), 1))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := readPostedForm(bytes.NewReader(body), fuzzBoundary, id, int64(len(body)))
		if err != nil {
			return
		}
		on, err := envelope.ParseOnline(p.Blob, envelope.Key{})
		if err != nil {
			t.Fatalf("accepted form is no online blob: %v", err)
		}
		if on.Header.ID != id || len(p.File.Ciphertext) == 0 || !bytes.Equal(on.Ciphertext, p.File.Ciphertext) {
			t.Fatalf("accepted form: id %s, %d bytes of ciphertext", on.Header.ID, len(p.File.Ciphertext))
		}
	})
}

// TestReadPostedFormOneCopy: a field sent twice is refused (there is never more
// than one copy), and so are fields out of the form's order.
func TestReadPostedFormOneCopy(t *testing.T) {
	id, form := fuzzForm(t, "one copy")
	p, err := readPostedForm(bytes.NewReader(form), fuzzBoundary, id, int64(len(form)))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Blob) == 0 || &p.File.Ciphertext[0] != &p.Blob[len(p.Blob)-len(p.File.Ciphertext)] {
		t.Error("the ciphertext is not the blob's own bytes")
	}
	i := bytes.Index(form, []byte("--"+fuzzBoundary+"\r\nContent-Disposition: form-data; name=\"payload\""))
	twice := append(append(append([]byte{}, form[:i]...), form[i:len(form)-len(fuzzBoundary)-6]...), form[i:]...)
	if _, err := readPostedForm(bytes.NewReader(twice), fuzzBoundary, id, int64(len(twice))); err != errDamaged {
		t.Errorf("payload twice: %v", err)
	}
}
