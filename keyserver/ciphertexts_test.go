package keyserver_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/client"
)

// put uploads body to /api/v1/ciphertexts/{sum} as a gateway would; a reader
// other than *bytes.Reader goes without a length (chunked).
func (e *env) put(sum string, body io.Reader, token string) (int, string) {
	e.t.Helper()
	return e.gatewayCall(http.MethodPut, "/api/v1/ciphertexts/"+sum, "application/octet-stream", body, token)
}

// gatewayCall makes a request with a bearer token and returns the status and
// the error code of the answer, if any.
func (e *env) gatewayCall(method, path, contentType string, body io.Reader, token string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Error
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestCiphertextUpload(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.MaxPayloadBytes = 64 << 10 })
	ct := make([]byte, 10_000)
	rand.Read(ct)
	sum := hexSum(ct)
	for _, tc := range []struct {
		name        string
		sum         string
		body        io.Reader
		token       string
		status      int
		code        string
		storedAfter bool
	}{
		{"no gateway token", sum, bytes.NewReader(ct), adminToken, http.StatusUnauthorized, "bad_token", false},
		{"not a hash", "abc", bytes.NewReader(ct), gatewayToken, http.StatusBadRequest, "bad_request", false},
		{"another hash", hexSum([]byte("other")), bytes.NewReader(ct), gatewayToken, http.StatusBadRequest, "hash_mismatch", false},
		{"empty", hexSum(nil), bytes.NewReader(nil), gatewayToken, http.StatusBadRequest, "bad_request", false},
		{"too large", hexSum(make([]byte, 64<<10+1)), bytes.NewReader(make([]byte, 64<<10+1)), gatewayToken, http.StatusRequestEntityTooLarge, "too_large", false},
		{"too large, no length", hexSum(make([]byte, 64<<10+1)), io.MultiReader(bytes.NewReader(make([]byte, 64<<10+1))), gatewayToken, http.StatusRequestEntityTooLarge, "too_large", false},
		{"good", sum, bytes.NewReader(ct), gatewayToken, http.StatusAccepted, "", true},
		{"again: idempotent", sum, bytes.NewReader(ct), gatewayToken, http.StatusAccepted, "", true},
		{"good, no length", hexSum(ct[1:]), io.MultiReader(bytes.NewReader(ct[1:])), gatewayToken, http.StatusAccepted, "", true},
	} {
		st, code := e.put(tc.sum, tc.body, tc.token)
		if st != tc.status || code != tc.code {
			t.Errorf("%s: %d %q, want %d %q", tc.name, st, code, tc.status, tc.code)
		}
		var s [32]byte
		if _, err := hex.Decode(s[:], []byte(tc.sum)); err != nil {
			continue
		}
		// A write makes the upload visible (Store.PutCiphertext).
		if _, err := e.store.DeleteUnreferencedCiphertexts(t.Context(), time.Time{}); err != nil {
			t.Fatal(err)
		}
		_, err := e.store.Ciphertext(t.Context(), s)
		if stored := err == nil; stored != tc.storedAfter {
			t.Errorf("%s: stored %t, want %t (%v)", tc.name, stored, tc.storedAfter, err)
		}
	}
}

// sealShared seals msg for each recipient and registers them the gateway's way:
// the ciphertext uploaded once, each envelope referencing it.
func (e *env) sealShared(msg []byte, recipients ...string) ([]sealed, []byte) {
	e.t.Helper()
	p, ct := envelope.EncryptPayload(msg)
	var out []sealed
	var regs []client.Registration
	for _, r := range recipients {
		en, keys, err := p.Seal(envelope.Header{KeyServer: e.public, From: "Dr. Alice <alice@hospital.example>",
			To: r, Subject: "Results", Created: e.clock.Now(), Expires: e.clock.Now().Add(30 * 24 * time.Hour)})
		if err != nil {
			e.t.Fatal(err)
		}
		regs = append(regs, client.Registration{Envelope: en, ServerKey: keys.Server, Ciphertext: ct})
		out = append(out, sealed{file: &envelope.File{Envelope: *en, EnvKey: keys.Env, Ciphertext: ct}, serverKey: keys.Server, msg: msg})
	}
	if err := client.New(e.srv.URL, gatewayToken, nil).RegisterEnvelopes(e.t.Context(), regs); err != nil {
		e.t.Fatal(err)
	}
	return out, ct
}

// online fetches an envelope's online blob as the "open online" page does.
func (e *env) online(id envelope.ID) (int, []byte) {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + "/api/v1/envelopes/" + id.String() + "/payload")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestSharedCiphertext: a message to ten recipients is uploaded and stored once;
// each recipient's online blob, assembled by the key server, opens to the
// message; the ciphertext goes with the last envelope that can use it.
func TestSharedCiphertext(t *testing.T) {
	e := newEnv(t)
	msg := make([]byte, 2<<20)
	rand.Read(msg)
	rcpts := []string{"p0@patient.example", "p1@patient.example", "p2@patient.example", "p3@patient.example", "p4@patient.example",
		"p5@patient.example", "p6@patient.example", "p7@patient.example", "p8@patient.example", "p9@patient.example"}
	envs, ct := e.sealShared(msg, rcpts...)
	// Ten copies would take over 20 MB.
	if fi, err := os.Stat(e.dbPath); err != nil || fi.Size() > 8<<20 {
		t.Errorf("database is %d bytes after registering a 2 MB message for ten (%v): the ciphertext is not stored once", fi.Size(), err)
	}
	sum := sha256.Sum256(ct)
	for _, s := range envs {
		st, blob := e.online(s.file.Header.ID)
		if st != http.StatusOK {
			t.Fatalf("online blob: %d", st)
		}
		f, err := envelope.ParseOnline(blob, s.file.EnvKey)
		if err != nil {
			t.Fatalf("ParseOnline: %v", err)
		}
		got, err := f.Open(s.serverKey)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("the online blob opens to %d bytes, not the message (%v)", len(got), err)
		}
		if v, err := e.admin().Envelope(t.Context(), s.file.Header.ID.String()); err != nil || !v.Online {
			t.Errorf("envelope view: online %t (%v)", v.Online, err)
		}
	}
	// Revoking all but one leaves the ciphertext for that one...
	for _, s := range envs[:9] {
		if _, err := e.admin().Manage(t.Context(), "revoke", s.file.Header.ID.String(), ""); err != nil {
			t.Fatal(err)
		}
		if st, _ := e.online(s.file.Header.ID); st != http.StatusNotFound {
			t.Errorf("online blob of a revoked envelope: %d", st)
		}
	}
	if _, err := e.store.Ciphertext(t.Context(), sum); err != nil {
		t.Fatalf("ciphertext gone while an envelope still uses it: %v", err)
	}
	// ...and the sweeper, expiring the last, deletes it.
	e.clock.Add(31 * 24 * time.Hour)
	if n, err := e.svc.Sweep(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if _, err := e.store.Ciphertext(t.Context(), sum); !errors.Is(err, keyserver.ErrNotFound) {
		t.Errorf("ciphertext after its last envelope expired: %v", err)
	}
}

// register posts one registration in JSON, as a gateway of any version would.
func (e *env) register(j api.Registration) (int, string) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"envelopes": []api.Registration{j}})
	return e.gatewayCall(http.MethodPost, "/api/v1/envelopes", "application/json", bytes.NewReader(body), gatewayToken)
}

func TestRegistrationForms(t *testing.T) {
	e := newEnv(t)
	msg := []byte("Subject: x\r\n\r\nresults\r\n")
	p, ct := envelope.EncryptPayload(msg)
	newReg := func() (api.Registration, *envelope.Envelope, envelope.Keys) {
		en, keys, err := p.Seal(envelope.Header{KeyServer: e.public, From: "alice@hospital.example", To: "bob@patient.example",
			Subject: "Results", Created: e.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		h := en.Header
		return api.Registration{ID: h.ID.String(), Sender: h.From, Recipient: h.To, Subject: h.Subject,
			Created: h.Created, ServerKey: envelope.EncodeKey(keys.Server)}, en, keys
	}
	head := func(en *envelope.Envelope) string {
		var b bytes.Buffer
		if err := en.WriteOnline(&b, bytes.NewReader(nil)); err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(b.Bytes())
	}
	opens := func(what string, en *envelope.Envelope, keys envelope.Keys) {
		t.Helper()
		st, blob := e.online(en.Header.ID)
		f, err := envelope.ParseOnline(blob, keys.Env)
		if err != nil {
			t.Fatalf("%s: online blob (%d): %v", what, st, err)
		}
		if got, err := f.Open(keys.Server); err != nil || !bytes.Equal(got, msg) {
			t.Errorf("%s: opens to %q, %v", what, got, err)
		}
	}

	// A ciphertext never uploaded: refused, nothing registered.
	j, en, keys := newReg()
	j.OnlineHead, j.Ciphertext = head(en), hexSum(ct)
	if st, code := e.register(j); st != http.StatusBadRequest || code != "unknown_ciphertext" {
		t.Errorf("unknown ciphertext: %d %q", st, code)
	}
	if _, err := e.store.Envelope(t.Context(), en.Header.ID); !errors.Is(err, keyserver.ErrNotFound) {
		t.Errorf("envelope registered against an unknown ciphertext: %v", err)
	}

	// Uploaded: accepted, and served whole.
	if st, code := e.put(hexSum(ct), bytes.NewReader(ct), gatewayToken); st != http.StatusAccepted {
		t.Fatalf("upload: %d %q", st, code)
	}
	if st, code := e.register(j); st != http.StatusCreated {
		t.Fatalf("registration by reference: %d %q", st, code)
	}
	opens("registration by reference", en, keys)

	// What is not an online blob's head is refused.
	bad, en2, _ := newReg()
	bad.Ciphertext = hexSum(ct)
	for name, h := range map[string]string{
		"missing":         "",
		"not base64":      "!!",
		"the whole blob":  base64.StdEncoding.EncodeToString(append(must(base64.StdEncoding.DecodeString(head(en2))), ct...)),
		"not a blob head": base64.StdEncoding.EncodeToString([]byte("hello, world, this is not it at all")),
		"another's head":  head(en),
	} {
		bad.OnlineHead = h
		if st, _ := e.register(bad); st != http.StatusBadRequest {
			t.Errorf("online head %s: %d, want 400", name, st)
		}
	}
	both := bad
	both.OnlineHead, both.Payload = head(en2), base64.StdEncoding.EncodeToString([]byte("x"))
	if st, _ := e.register(both); st != http.StatusBadRequest {
		t.Errorf("payload and online_head together: %d, want 400", st)
	}

	// The older form, the whole blob inline, still works.
	old, en3, keys3 := newReg()
	var blob bytes.Buffer
	if err := en3.WriteOnline(&blob, bytes.NewReader(ct)); err != nil {
		t.Fatal(err)
	}
	old.Payload = base64.StdEncoding.EncodeToString(blob.Bytes())
	if st, code := e.register(old); st != http.StatusCreated {
		t.Fatalf("inline payload: %d %q", st, code)
	}
	opens("inline payload", en3, keys3)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestUnreferencedCiphertextSwept: an upload whose registration never came is
// deleted by the first sweep an hour after it.
func TestUnreferencedCiphertextSwept(t *testing.T) {
	e := newEnv(t)
	ct := []byte("ciphertext of a message whose registration failed")
	if st, code := e.put(hexSum(ct), bytes.NewReader(ct), gatewayToken); st != http.StatusAccepted {
		t.Fatalf("upload: %d %q", st, code)
	}
	sum := sha256.Sum256(ct)
	if _, err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Ciphertext(t.Context(), sum); err != nil {
		t.Fatalf("swept at once: %v", err)
	}
	e.clock.Add(61 * time.Minute)
	if _, err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Ciphertext(t.Context(), sum); !errors.Is(err, keyserver.ErrNotFound) {
		t.Errorf("an hour later: %v, want it swept", err)
	}
}

// registerParts posts registrations in one multipart request, after the given
// parts (name, filename, content, and a Content-Length header if not ""), as a
// gateway uploads ciphertexts with them.
func (e *env) registerParts(parts [][4]string, envelopes ...api.Registration) (int, string) {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf("form-data; name=%q; filename=%q", p[0], p[1]))
		if p[3] != "" {
			h.Set("Content-Length", p[3])
		}
		w, _ := mw.CreatePart(h)
		io.WriteString(w, p[2])
	}
	if envelopes != nil {
		w, _ := mw.CreateFormField("envelopes")
		json.NewEncoder(w).Encode(map[string]any{"envelopes": envelopes})
	}
	mw.Close()
	return e.gatewayCall(http.MethodPost, "/api/v1/envelopes", mw.FormDataContentType(), &body, gatewayToken)
}

// TestRegistrationWithUploads: the ciphertext and the registrations that
// reference it in one request (the gateway's way). Every part is checked as a
// PUT would be, and a request that fails registers nothing.
func TestRegistrationWithUploads(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.MaxPayloadBytes = 64 << 10 })
	msg := []byte("Subject: x\r\n\r\nresults\r\n")
	p, ctBytes := envelope.EncryptPayload(msg)
	ct := string(ctBytes)
	newReg := func() (api.Registration, *envelope.Envelope, envelope.Keys) {
		en, keys, err := p.Seal(envelope.Header{KeyServer: e.public, From: "alice@hospital.example", To: "bob@patient.example",
			Subject: "Results", Created: e.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		var head bytes.Buffer
		if err := en.WriteOnline(&head, bytes.NewReader(nil)); err != nil {
			t.Fatal(err)
		}
		h := en.Header
		return api.Registration{ID: h.ID.String(), Sender: h.From, Recipient: h.To, Subject: h.Subject,
			Created: h.Created, ServerKey: envelope.EncodeKey(keys.Server),
			OnlineHead: base64.StdEncoding.EncodeToString(head.Bytes()), Ciphertext: hexSum(ctBytes)}, en, keys
	}
	big := string(make([]byte, 64<<10+1))
	for _, tc := range []struct {
		name   string
		parts  [][4]string
		noJSON bool
		status int
		code   string
	}{
		{"no upload, unknown hash", nil, false, http.StatusBadRequest, "unknown_ciphertext"},
		{"another hash", [][4]string{{"ciphertext", hexSum([]byte("other")), ct, ""}}, false, http.StatusBadRequest, "hash_mismatch"},
		{"not a hash", [][4]string{{"ciphertext", "abc", ct, ""}}, false, http.StatusBadRequest, "bad_request"},
		{"too large", [][4]string{{"ciphertext", hexSum([]byte(big)), big, ""}}, false, http.StatusRequestEntityTooLarge, "too_large"},
		{"unknown part", [][4]string{{"payload", "x", ct, ""}}, false, http.StatusBadRequest, "bad_request"},
		{"announces more than it holds", [][4]string{{"ciphertext", hexSum(ctBytes), ct, strconv.Itoa(len(ct) + 1)}}, false, http.StatusBadRequest, "bad_request"},
		{"announces more than the request", [][4]string{{"ciphertext", hexSum(ctBytes), ct, strconv.Itoa(20 << 20)}}, false, http.StatusBadRequest, "bad_request"},
		{"announces nonsense", [][4]string{{"ciphertext", hexSum(ctBytes), ct, "-1"}}, false, http.StatusBadRequest, "bad_request"},
		{"too many uploads", slices.Repeat([][4]string{{"ciphertext", hexSum([]byte("a")), "a", ""}}, 9), false, http.StatusBadRequest, "bad_request"},
		// Last: its upload stays, as an upload whose registration failed
		// does, until a registration references it or the sweeper deletes it.
		{"no envelopes part", [][4]string{{"ciphertext", hexSum(ctBytes), ct, ""}}, true, http.StatusBadRequest, "bad_request"},
	} {
		j, en, _ := newReg()
		var st int
		var code string
		if tc.noJSON {
			st, code = e.registerParts(tc.parts)
		} else {
			st, code = e.registerParts(tc.parts, j)
		}
		if st != tc.status || code != tc.code {
			t.Errorf("%s: %d %q, want %d %q", tc.name, st, code, tc.status, tc.code)
		}
		if _, err := e.store.Envelope(t.Context(), en.Header.ID); !errors.Is(err, keyserver.ErrNotFound) {
			t.Errorf("%s: the envelope was registered (%v)", tc.name, err)
		}
	}

	// Two envelopes and their ciphertext in one request: both open online.
	j1, en1, k1 := newReg()
	j2, en2, k2 := newReg()
	if st, code := e.registerParts([][4]string{{"ciphertext", hexSum(ctBytes), ct, ""}}, j1, j2); st != http.StatusCreated {
		t.Fatalf("registration with its upload: %d %q", st, code)
	}
	for i, s := range []struct {
		en   *envelope.Envelope
		keys envelope.Keys
	}{{en1, k1}, {en2, k2}} {
		_, blob := e.online(s.en.Header.ID)
		f, err := envelope.ParseOnline(blob, s.keys.Env)
		if err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
		if got, err := f.Open(s.keys.Server); err != nil || !bytes.Equal(got, msg) {
			t.Errorf("envelope %d opens to %q, %v", i, got, err)
		}
	}
}
