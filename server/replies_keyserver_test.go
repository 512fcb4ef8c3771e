package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/envelope/reply"
	"github.com/waxseal/waxseal/envelope/reply/compose"
	"github.com/waxseal/waxseal/envelope/unseal"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/httpapi"
)

// captured records every request and response body a key server sees.
type captured struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write lets a captured be a log's writer too.
func (c *captured) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *captured) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		c.mu.Lock()
		c.buf.WriteString(r.Method + " " + r.URL.String() + "\n")
		c.buf.Write(body)
		c.buf.Write(rec.Body.Bytes())
		c.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// postRaw posts a sealed reply as the page does.
func (b *browser) postRaw(path string, body []byte) (int, map[string]any) {
	b.k.t.Helper()
	req, _ := http.NewRequest("POST", b.k.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(api.CSRFHeader, "1")
	req.Header.Set("Origin", publicURL)
	if b.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "waxseal", Value: b.cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.k.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// postReplies seals n replies to pub, their texts made from format and the
// reply's number, and posts them to envelope id as bob, failing on any refusal.
func (b *browser) postReplies(id string, pub *[32]byte, n int, format string) {
	b.k.t.Helper()
	for i := range n {
		raw, err := compose.Build(&compose.Draft{Subject: "Re: Lab results", Text: fmt.Sprintf(format, i)}, rand.Reader)
		if err != nil {
			b.k.t.Fatal(err)
		}
		sealed, err := compose.Seal(raw, pub, rand.Reader)
		if err != nil {
			b.k.t.Fatal(err)
		}
		if code, out := b.postRaw("/api/v1/envelopes/"+id+"/replies?kind=reply", sealed); code != http.StatusCreated {
			b.k.t.Fatalf("post reply %d: %d %v", i, code, out)
		}
	}
}

// TestReplyThroughKeyServer: the recipient of a sealed message posts a sealed
// reply to the key server; the gateway leases it over the API and delivers it
// to the original sender with the key server's From; the key server's bbolt
// file, the gateway's logs and every byte the key server received or sent hold
// no reply plaintext (a canary in the body and in an attachment's name), the
// recipient's copy stored beside it included.
func TestReplyThroughKeyServer(t *testing.T) {
	dir := t.TempDir()
	ksLogs := &captured{}
	svc, st, err := newKeyServerLogging(dir, ksLogs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	traffic := &captured{}
	srv := httptest.NewServer(traffic.wrap(httpapi.New(svc)))
	t.Cleanup(srv.Close)
	ks := &keyServer{t: t, svc: svc, store: st, srv: srv}
	e := startGateway(t, gwOptions{registrar: ks.client()})

	msg := labMessage("[send secure] Lab results")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, msg); se != nil {
		t.Fatalf("DATA answered %v", se)
	}
	_, _, _, file := wrapperParts(t, e.hop.to("bob@patient.example")[0].Data)
	bob := &browser{k: ks}
	ks.openAs(bob, file)
	id := file.Header.ID.String()

	const canary = "CANARY-reply-5d41"
	draft := &compose.Draft{Subject: "Re: Lab results", Text: "Body " + canary,
		Attachments: []compose.Attachment{{Name: canary + ".pdf", Data: []byte("%PDF-1.4 " + canary)}}}
	raw, err := compose.Build(draft, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := append([]byte("From: mallory@evil.example\r\nTo: mallory@evil.example\r\n"), raw...)
	sealed, err := compose.Seal(forged, &replyKey.Public, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	// Refusals first: not a reply, another person, an unknown kind.
	if st, out := bob.postRaw("/api/v1/envelopes/"+id+"/replies?kind=reply", []byte("hello")); st != http.StatusBadRequest || out["error"] != "not_a_reply" {
		t.Errorf("plain bytes: %d %v", st, out)
	}
	if st, out := bob.postRaw("/api/v1/envelopes/"+id+"/replies?kind=bcc", sealed); st != http.StatusBadRequest || out["error"] != "bad_reply_kind" {
		t.Errorf("kind bcc: %d %v", st, out)
	}
	if st, _ := (&browser{k: ks}).postRaw("/api/v1/envelopes/"+id+"/replies?kind=reply", sealed); st != http.StatusUnauthorized {
		t.Errorf("no session: %d", st)
	}

	// Posted as the page does: the reply, and the wrap of its key under
	// k_copy, from both halves of the envelope's key (FORMAT.md §13.5).
	_, kout := bob.call("POST", "/api/v1/envelopes/"+id+"/key", nil)
	srvKey, err := envelope.ParseKey(kout["server_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := unseal.ReplyCopyKey(file.Header.ID, file.EnvKey, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	copyKey := [32]byte(kc)
	sealed, wrap, err := compose.SealWithCopy(forged, &replyKey.Public, &copyKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for name, b := range map[string][]byte{"reply": sealed, "copy_key": wrap} {
		w, _ := mw.CreateFormFile(name, name)
		w.Write(b)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", ks.srv.URL+"/api/v1/envelopes/"+id+"/replies?kind=reply", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set(api.CSRFHeader, "1")
	req.Header.Set("Origin", publicURL)
	req.AddCookie(&http.Cookie{Name: "waxseal", Value: bob.cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var posted map[string]any
	json.NewDecoder(resp.Body).Decode(&posted)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || posted["state"] != "pending" || posted["has_copy"] != true {
		t.Fatalf("post reply: %d %v", resp.StatusCode, posted)
	}
	if st, out := bob.call("GET", "/api/v1/envelopes/"+id+"/replies", nil); st != http.StatusOK || len(out["replies"].([]any)) != 1 {
		t.Fatalf("list replies: %d %v", st, out)
	}

	d, err := e.g.NewReplyDeliverer(ReplyConfig{Source: NewRemoteReplies(ks.client()), Keys: []reply.KeyPair{replyKey}, LedgerDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := d.DeliverOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("DeliverOnce: %d %v", n, err)
	}
	var delivered []received
	for _, r := range e.hop.to("alice@hospital.example") {
		if bytes.Contains(r.Data, []byte("Re: Lab results")) {
			delivered = append(delivered, r)
		}
	}
	if len(delivered) != 1 {
		t.Fatalf("alice got %d replies", len(delivered))
	}
	m, text, files := replyParts(t, delivered[0].Data)
	if m.Header.Get("From") != `"Bob Patient" <bob@patient.example>` || m.Header.Get("To") != "alice@hospital.example" {
		t.Errorf("From %q To %q", m.Header.Get("From"), m.Header.Get("To"))
	}
	if text != "Body "+canary || string(files[canary+".pdf"]) != "%PDF-1.4 "+canary {
		t.Errorf("text %q, files %v", text, files)
	}
	if _, out := bob.call("GET", "/api/v1/envelopes/"+id+"/replies", nil); out["replies"].([]any)[0].(map[string]any)["state"] != "delivered" {
		t.Errorf("after delivery: %v", out)
	}
	// Nothing more to lease.
	if n, _ := d.DeliverOnce(context.Background()); n != 0 {
		t.Errorf("leased %d replies after delivery", n)
	}
	// The recipient reads their copy back after delivery: the wrap and the
	// sealed reply, which the key server kept for it.
	creq, _ := http.NewRequest("GET", ks.srv.URL+"/api/v1/envelopes/"+id+"/replies/"+posted["id"].(string)+"/copy", nil)
	creq.Header.Set("Origin", publicURL)
	creq.AddCookie(&http.Cookie{Name: "waxseal", Value: bob.cookie})
	cresp, err := http.DefaultClient.Do(creq)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(cresp.Body)
	cresp.Body.Close()
	if got, err := compose.OpenCopy(back, &copyKey); err != nil || !bytes.Equal(got, forged) {
		t.Fatalf("the copy read back: %d, %v", cresp.StatusCode, err)
	}

	// The sender's organisation revokes the message: the copy is refused
	// like the message, and the reply's sealed bytes leave the database.
	if _, err := svc.Revoke(context.Background(), keyserver.Caller{Admin: true}, file.Header.ID); err != nil {
		t.Fatal(err)
	}
	rresp, err := http.DefaultClient.Do(creq)
	if err != nil {
		t.Fatal(err)
	}
	refused, _ := io.ReadAll(rresp.Body)
	rresp.Body.Close()
	if rresp.StatusCode != http.StatusGone || !bytes.Contains(refused, []byte(`"revoked"`)) {
		t.Errorf("the copy after the revoke: %d %s, want 410 revoked", rresp.StatusCode, refused)
	}

	// The key server saw no plaintext: not in its file, its logs, nor on the wire.
	st.Close() // flushes; the test's cleanup closing it again is harmless
	db, err := os.ReadFile(filepath.Join(dir, "waxseal.db"))
	if err != nil {
		t.Fatal(err)
	}
	// The record holds the sealed reply base64-encoded. No live record may
	// hold it after the revoke; bbolt does not scrub freed pages, so the file
	// may still, until they are reused (THREAT_MODEL.md, "Replies go with
	// their envelope"): that is logged, not failed.
	enc := []byte(base64.StdEncoding.EncodeToString(sealed))
	enc = enc[64 : len(enc)-4]
	if where := inLiveRecords(t, filepath.Join(dir, "waxseal.db"), enc); where != "" {
		t.Errorf("the sealed reply is still in a record after the revoke: %s", where)
	}
	t.Logf("copies of the sealed reply left in the file's free pages: %d", bytes.Count(db, enc))
	// The body travels base64-encoded inside the message: look for that too.
	encodedBody := strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("Body "+canary)), "=")
	encodedBody = encodedBody[:len(encodedBody)-2]
	if !bytes.Contains(ksLogs.buf.Bytes(), []byte(`"path":"/api/v1/replies/lease"`)) {
		t.Error("the key server's log capture missed the lease")
	}
	for what, b := range map[string][]byte{"bbolt file": db, "traffic": traffic.buf.Bytes(), "gateway logs": e.logs.Bytes(), "key server logs": ksLogs.buf.Bytes()} {
		if bytes.Contains(b, []byte(canary)) || bytes.Contains(b, []byte(encodedBody)) {
			t.Errorf("the %s holds the reply's canary", what)
		}
	}
	if !bytes.Contains(raw, []byte(encodedBody)) || !bytes.Contains(raw, []byte(canary)) {
		t.Fatal("the canary check would not find the plaintext message")
	}
	if !bytes.Contains(traffic.buf.Bytes(), []byte("/replies/lease")) {
		t.Error("the capture missed the lease")
	}
}

// TestReplyRefusedForRevokedAndOthers: a revoked envelope takes no reply; an
// account that is not the recipient's gets "not yours".
func TestReplyRefusedForRevokedAndOthers(t *testing.T) {
	e := startGateway(t, gwOptions{})
	msg := labMessage("[send secure] Lab results")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example", "dave@elsewhere.example"}, msg); se != nil {
		t.Fatalf("DATA answered %v", se)
	}
	files := map[string]*envelope.File{}
	for _, rcpt := range []string{"bob@patient.example", "dave@elsewhere.example"} {
		_, _, _, f := wrapperParts(t, e.hop.to(rcpt)[0].Data)
		files[rcpt] = f
	}
	bob := &browser{k: e.ks}
	e.ks.openAs(bob, files["bob@patient.example"])
	sealed, _ := compose.Seal([]byte("Subject: x\r\n\r\nx"), &replyKey.Public, rand.Reader)
	daveID := files["dave@elsewhere.example"].Header.ID.String()
	if st, out := bob.postRaw("/api/v1/envelopes/"+daveID+"/replies?kind=reply", sealed); st != http.StatusForbidden {
		t.Errorf("bob replying to dave's envelope: %d %v", st, out)
	}
	bobID := files["bob@patient.example"].Header.ID
	if _, err := e.ks.svc.Revoke(context.Background(), keyserver.Caller{Admin: true}, bobID); err != nil {
		t.Fatal(err)
	}
	if st, out := bob.postRaw("/api/v1/envelopes/"+bobID.String()+"/replies?kind=reply", sealed); st != http.StatusGone && st != http.StatusForbidden {
		t.Errorf("reply to a revoked envelope: %d %v", st, out)
	} else if out["error"] != "revoked" {
		t.Errorf("reply to a revoked envelope: %v", out)
	}
}

// TestReplyAllThroughKeyServer: the gateway seals each envelope's reply context
// (the original's Message-ID and visible people) into its registration; the key
// server stores it unread; a reply all then reaches the sender and the other
// visible recipient, threaded under the original and the wrapper mail.
func TestReplyAllThroughKeyServer(t *testing.T) {
	e := startGateway(t, gwOptions{tweak: func(c *Config) { c.ReplyPublicKey = &replyKey.Public }})
	msg := labMessage("[send secure] Lab results") // To: carol@hospital.example, bob@patient.example
	if se := submit(t, e.addr, "alice@hospital.example", []string{"carol@hospital.example", "bob@patient.example"}, msg); se != nil {
		t.Fatalf("DATA answered %v", se)
	}
	wrapper := e.hop.to("bob@patient.example")[0].Data
	wm, _, _, file := wrapperParts(t, wrapper)
	rec, err := e.ks.store.Envelope(context.Background(), file.Header.ID)
	if err != nil || len(rec.ReplyContext) == 0 || bytes.Contains(rec.ReplyContext, []byte("lab-1@hospital.example")) {
		t.Fatalf("stored reply context: %d bytes (readable: %v), %v", len(rec.ReplyContext), bytes.Contains(rec.ReplyContext, []byte("lab-1")), err)
	}
	bob := &browser{k: e.ks}
	e.ks.openAs(bob, file)
	sealed := sealedReply(t, "", &compose.Draft{Subject: "Re: Lab results", Text: "reply-all-canary"})
	if st, out := bob.postRaw("/api/v1/envelopes/"+file.Header.ID.String()+"/replies?kind=all", sealed); st != http.StatusCreated {
		t.Fatalf("post reply all: %d %v", st, out)
	}
	d, err := e.g.NewReplyDeliverer(ReplyConfig{Source: NewRemoteReplies(e.ks.client()), Keys: []reply.KeyPair{replyKey}, LedgerDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.DeliverOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"alice@hospital.example", "carol@hospital.example"} {
		var got []received
		for _, r := range e.hop.to(rcpt) {
			if bytes.Contains(r.Data, []byte("Re: Lab results")) {
				got = append(got, r)
			}
		}
		if len(got) != 1 {
			t.Fatalf("%s got %d replies", rcpt, len(got))
		}
		m, text, _ := replyParts(t, got[0].Data)
		wantRefs := "<lab-1@hospital.example> " + wm.Header.Get("Message-ID")
		if text != "reply-all-canary" || m.Header.Get("To") != "alice@hospital.example" || m.Header.Get("Cc") != "carol@hospital.example" ||
			m.Header.Get("In-Reply-To") != "<lab-1@hospital.example>" || m.Header.Get("References") != wantRefs {
			t.Errorf("%s: To %q Cc %q In-Reply-To %q References %q (want %q)", rcpt, m.Header.Get("To"), m.Header.Get("Cc"),
				m.Header.Get("In-Reply-To"), m.Header.Get("References"), wantRefs)
		}
	}
	if n := len(e.hop.to("bob@patient.example")); n != 1 {
		t.Errorf("bob got %d mails, want only his envelope", n)
	}
}

// TestReplyBatchRoundTrips: a gateway delivers a batch of replies from the key
// server in two round trips, the lease and one report of the whole batch,
// whatever its size; every reply is recorded delivered, and a reply whose
// lease was lost meanwhile is reported back as lost (its ledger entry kept).
func TestReplyBatchRoundTrips(t *testing.T) {
	dir := t.TempDir()
	svc, st, err := newKeyServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	traffic := &captured{}
	srv := httptest.NewServer(traffic.wrap(httpapi.New(svc)))
	t.Cleanup(srv.Close)
	ks := &keyServer{t: t, svc: svc, store: st, srv: srv}
	e := startGateway(t, gwOptions{registrar: ks.client()})
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("[send secure] Lab results")); se != nil {
		t.Fatalf("DATA answered %v", se)
	}
	_, _, _, file := wrapperParts(t, e.hop.to("bob@patient.example")[0].Data)
	bob := &browser{k: ks}
	ks.openAs(bob, file)
	const n = 5
	bob.postReplies(file.Header.ID.String(), &replyKey.Public, n, "reply %d")
	d, err := e.g.NewReplyDeliverer(ReplyConfig{Source: NewRemoteReplies(ks.client()), Keys: []reply.KeyPair{replyKey}, LedgerDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	traffic.mu.Lock()
	traffic.buf.Reset()
	traffic.mu.Unlock()
	if got, err := d.DeliverOnce(context.Background()); got != n || err != nil {
		t.Fatalf("DeliverOnce: %d %v", got, err)
	}
	traffic.mu.Lock()
	seen := traffic.buf.String()
	traffic.mu.Unlock()
	// Every request is written as "METHOD URL\n" then its body and answer.
	calls := regexp.MustCompile(`(GET|POST|PUT|DELETE) (/api/v1/\S+)\n`).FindAllStringSubmatch(seen, -1)
	var paths []string
	for _, c := range calls {
		paths = append(paths, c[2])
	}
	if !slices.Equal(paths, []string{"/api/v1/replies/lease", "/api/v1/replies/report"}) || strings.Count(seen, "/api/v1/") != 2 {
		t.Errorf("a batch of %d cost these key-server calls: %q, want the lease and one report", n, paths)
	}
	rs, err := st.RepliesOf(context.Background(), file.Header.ID)
	if err != nil || len(rs) != n {
		t.Fatalf("stored %d %v", len(rs), err)
	}
	for _, r := range rs {
		if r.Delivered.IsZero() {
			t.Errorf("reply %s not recorded delivered", r.ID)
		}
	}
	delivered := 0
	for _, r := range e.hop.to("alice@hospital.example") {
		if bytes.Contains(r.Data, []byte("Re: Lab results")) {
			delivered++
		}
	}
	if delivered != n {
		t.Errorf("alice got %d replies, want %d", delivered, n)
	}
	// A report with a lease that is not the reply's: lost, not an error.
	lost, err := ks.client().ReportReplies(context.Background(), []keyserver.ReplyReport{{ID: rs[0].ID, Lease: rs[0].ID + ".stale"}})
	if err != nil || !slices.Equal(lost, []string{rs[0].ID}) {
		t.Errorf("a stale report: lost %v, %v", lost, err)
	}
}

// inLiveRecords names the bucket and key of the first record of the bbolt file
// at path whose key or value holds needle, "" if none: what the database
// holds, as against bytes left in its free pages.
func inLiveRecords(t *testing.T, path string, needle []byte) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var found string
	var walk func(name string, b *bolt.Bucket) error
	walk = func(name string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(name+"/"+string(k), b.Bucket(k))
			}
			if found == "" && (bytes.Contains(k, needle) || bytes.Contains(v, needle)) {
				found = fmt.Sprintf("%s, key %q", name, k)
			}
			return nil
		})
	}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	}); err != nil {
		t.Fatal(err)
	}
	return found
}
