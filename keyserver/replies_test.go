package keyserver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/boltstore"
)

// sealedReplyBytes stands in for a Reply v1: the key server checks only its
// magic and size (it cannot open it).
func sealedReplyBytes(n int) []byte {
	return append([]byte("wxr\x01"), bytes.Repeat([]byte{0xa5}, n)...)
}

func recipientPrincipal(t *testing.T, e *env, addr string) keyserver.Caller {
	t.Helper()
	acct, err := e.store.AccountByEmail(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return keyserver.Caller{Account: &acct, IP: "192.0.2.7"}
}

// TestReplyLeases: a stored reply is leased to one gateway at a time, a report
// needs the current unexpired lease, a lease that ran out is taken over, and
// delivery drops the ciphertext; the audit log holds metadata only.
func TestReplyLeases(t *testing.T) {
	e := newEnv(t)
	s := e.seal("hello", time.Time{}, "bob@patient.example")[0]
	e.browser().register(s, "Bob", "Patient")
	p := recipientPrincipal(t, e, "bob@patient.example")
	ctx := t.Context()
	stored, err := e.svc.PostReply(ctx, p, s.file.Header.ID, keyserver.ReplyKindReply, "", sealedReplyBytes(1000), nil)
	if err != nil {
		t.Fatal(err)
	}
	leased, err := e.svc.LeaseReplies(ctx, keyserver.Caller{}, 10, time.Minute)
	if err != nil || len(leased) != 1 {
		t.Fatalf("lease: %d %v", len(leased), err)
	}
	l := leased[0]
	if l.ID != stored.ID || l.From != "bob@patient.example" || l.Name != "Bob Patient" || l.OriginalSender != "alice@hospital.example" || len(l.Sealed) != 1004 {
		t.Fatalf("leased %+v", l)
	}
	if again, _ := e.svc.LeaseReplies(ctx, keyserver.Caller{}, 10, time.Minute); len(again) != 0 {
		t.Fatalf("a leased reply was leased again: %d", len(again))
	}
	if err := e.svc.FinishReply(ctx, keyserver.Caller{}, l.ID, l.ID+".forged", ""); !errors.Is(err, keyserver.ErrLeaseLost) {
		t.Fatalf("a forged lease: %v", err)
	}
	e.clock.Add(2 * time.Minute)
	if err := e.svc.FinishReply(ctx, keyserver.Caller{}, l.ID, l.Lease, ""); !errors.Is(err, keyserver.ErrLeaseLost) {
		t.Fatalf("an expired lease: %v", err)
	}
	taken, err := e.svc.LeaseReplies(ctx, keyserver.Caller{}, 10, time.Minute)
	if err != nil || len(taken) != 1 || taken[0].Lease == l.Lease {
		t.Fatalf("take over after the lease ran out: %d %v", len(taken), err)
	}
	if err := e.svc.FinishReply(ctx, keyserver.Caller{}, l.ID, taken[0].Lease, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.FinishReply(ctx, keyserver.Caller{}, l.ID, taken[0].Lease, ""); !errors.Is(err, keyserver.ErrLeaseLost) {
		t.Fatalf("a second report: %v", err)
	}
	rs, err := e.store.RepliesOf(ctx, s.file.Header.ID)
	if err != nil || len(rs) != 1 || rs[0].Sealed != nil || rs[0].Delivered.IsZero() {
		t.Fatalf("after delivery: %+v %v", rs, err)
	}
	var actions []string
	e.store.Audit(ctx, 1, func(r keyserver.AuditRecord) (bool, error) {
		if strings.HasPrefix(string(r.Action), "reply.") {
			actions = append(actions, string(r.Action)+": "+r.Detail)
		}
		return true, nil
	})
	if strings.Join(actions, "; ") != "reply.store: reply, 1004 bytes; reply.deliver: reply" {
		t.Errorf("audit: %q", actions)
	}
}

// TestReplyRefusals: only the recipient, only while the envelope is live,
// within the size limit and the per-account rate; reply all waits for the
// registration to carry the original's recipients; a forward needs an address.
func TestReplyRefusals(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.RepliesPerAccount = keyserver.RateLimit{Burst: 2, Every: time.Hour} })
	s := e.seal("hello", e.clock.Now().Add(48*time.Hour), "bob@patient.example")[0]
	e.browser().register(s, "Bob", "Patient")
	p := recipientPrincipal(t, e, "bob@patient.example")
	ctx, id := t.Context(), s.file.Header.ID
	post := func(p keyserver.Caller, kind, to string, body []byte) error {
		_, err := e.svc.PostReply(ctx, p, id, kind, to, body, nil)
		return err
	}
	code := func(err error) string {
		var ke *keyserver.Error
		if errors.As(err, &ke) {
			return ke.Code
		}
		return "not a keyserver.Error: " + err.Error()
	}
	for _, c := range []struct {
		p        keyserver.Caller
		kind, to string
		body     []byte
		want     string
	}{
		{keyserver.Caller{}, "reply", "", sealedReplyBytes(100), "signin_required"},
		{p, "reply", "", []byte("not sealed"), "not_a_reply"},
		{p, "reply", "", sealedReplyBytes(10<<20 + 100), "reply_too_large"},
		{p, "bcc", "", sealedReplyBytes(100), "bad_reply_kind"},
		{p, "forward", "nobody", sealedReplyBytes(100), "bad_reply_kind"},
		{p, "all", "", sealedReplyBytes(100), "reply_all_unavailable"},
	} {
		if got := code(post(c.p, c.kind, c.to, c.body)); got != c.want {
			t.Errorf("%s %q: %s, want %s", c.kind, c.to, got, c.want)
		}
	}
	if err := post(p, "forward", "Carol <carol@hospital.example>", sealedReplyBytes(100)); err != nil {
		t.Fatalf("forward: %v", err)
	}
	if err := post(p, "reply", "", sealedReplyBytes(100)); err != nil {
		t.Fatalf("reply: %v", err)
	}
	if got := code(post(p, "reply", "", sealedReplyBytes(100))); got != "rate_limited" {
		t.Errorf("third reply within the hour: %s", got)
	}
	rs, _ := e.store.RepliesOf(ctx, id)
	forwards := 0
	for _, r := range rs {
		if r.Kind == keyserver.ReplyKindForward && r.ForwardTo == "carol@hospital.example" {
			forwards++
		}
	}
	if len(rs) != 2 || forwards != 1 { // stored at the same instant: in either order
		t.Fatalf("stored %d replies, %d forwards to carol", len(rs), forwards)
	}

	// Expiry: no more replies, and the sweeper removes the stored ones.
	e.clock.Add(49 * time.Hour)
	if got := code(post(p, "reply", "", sealedReplyBytes(100))); got != "expired" {
		t.Errorf("after expiry: %s", got)
	}
	if _, err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if rs, _ := e.store.RepliesOf(ctx, id); len(rs) != 0 {
		t.Errorf("%d replies outlived their envelope", len(rs))
	}
	if leased, _ := e.svc.LeaseReplies(ctx, keyserver.Caller{}, 10, time.Minute); len(leased) != 0 {
		t.Errorf("leased %d replies of an expired envelope", len(leased))
	}
}

// TestSentItemsShowReplies: the original's sender sees the replies to each of
// their sent envelopes beside it, metadata only (who, when, how large, the
// delivery state); nobody else's sent items show them.
func TestSentItemsShowReplies(t *testing.T) {
	e := newEnv(t)
	s := e.seal("hello", time.Time{}, "bob@patient.example", "alice@hospital.example", "dan@patient.example") // from alice
	bobID, danID := s[0].file.Header.ID, s[2].file.Header.ID
	e.browser().register(s[0], "Bob", "Patient")
	bob := recipientPrincipal(t, e, "bob@patient.example")
	ctx := t.Context()
	first, err := e.svc.PostReply(ctx, bob, bobID, keyserver.ReplyKindReply, "", sealedReplyBytes(1000), nil)
	if err != nil {
		t.Fatal(err)
	}
	leased, err := e.svc.LeaseReplies(ctx, keyserver.Caller{}, 10, time.Minute)
	if err != nil || len(leased) != 1 {
		t.Fatalf("lease: %d %v", len(leased), err)
	}
	if err := e.svc.FinishReply(ctx, keyserver.Caller{}, leased[0].ID, leased[0].Lease, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	second, err := e.svc.PostReply(ctx, bob, bobID, keyserver.ReplyKindReply, "", sealedReplyBytes(50), nil)
	if err != nil {
		t.Fatal(err)
	}

	alice := e.browser()
	alice.register(s[1], "Alice", "Sender")
	st, out := alice.call("GET", "/api/v1/sent", nil)
	if st != http.StatusOK || len(out["envelopes"].([]any)) != 3 {
		t.Fatalf("alice's sent items: %d %v", st, out)
	}
	replies := out["replies"].(map[string]any)
	if len(replies) != 1 || replies[danID.String()] != nil {
		t.Fatalf("replies by envelope: %v, want bob's envelope only", replies)
	}
	got, _ := replies[bobID.String()].([]any)
	want := []map[string]any{
		{"id": first.ID, "kind": "reply", "from": "bob@patient.example", "name": "Bob Patient", "size": 1004.0, "state": "delivered",
			"created": first.Created.UTC().Format("2006-01-02T15:04:05Z")},
		{"id": second.ID, "kind": "reply", "from": "bob@patient.example", "name": "Bob Patient", "size": 54.0, "state": "pending",
			"created": second.Created.UTC().Format("2006-01-02T15:04:05Z")},
	}
	if len(got) != len(want) {
		t.Fatalf("replies to bob's envelope: %v", got)
	}
	for i, w := range want {
		if !maps.Equal(got[i].(map[string]any), w) {
			t.Errorf("reply %d: %v, want %v (metadata only)", i, got[i], w)
		}
	}

	// Neither the recipient nor another sender sees them as sent items.
	recs, err := e.svc.SentEnvelopes(ctx, recipientPrincipal(t, e, "alice@hospital.example"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if rs, err := e.svc.SentReplies(ctx, bob, recs); err != nil || len(rs) != 0 {
		t.Errorf("the recipient's view of alice's sent replies: %v %v", rs, err)
	}
	carol := e.browser()
	carol.register(e.seal("x", time.Time{}, "carol@hospital.example")[0], "Carol", "Sender")
	if st, out := carol.call("GET", "/api/v1/sent", nil); st != http.StatusOK || len(out["replies"].(map[string]any)) != 0 {
		t.Errorf("carol's sent items: %d %v", st, out)
	}
	if _, err := e.svc.SentReplies(ctx, keyserver.Caller{}, recs); !errors.Is(err, keyserver.ErrSignInRequired) {
		t.Errorf("signed out: %v", err)
	}
}

// raw makes a request with the browser's session and returns the status and body.
func (b *browser) raw(method, path, contentType string, body io.Reader) (int, []byte) {
	b.e.t.Helper()
	req, _ := http.NewRequestWithContext(b.e.t.Context(), method, b.e.srv.URL+path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set(api.CSRFHeader, "1")
	req.Header.Set("Origin", b.origin)
	req.AddCookie(&http.Cookie{Name: "waxseal", Value: b.cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func replyForm(t *testing.T, parts map[string][]byte) (string, *bytes.Buffer) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(parts)) {
		p, err := w.CreateFormFile(name, name)
		if err != nil {
			t.Fatal(err)
		}
		p.Write(parts[name])
	}
	w.Close()
	return w.FormDataContentType(), &buf
}

// TestReplyCopy: the wrap of the reply's key is posted beside the reply, listed
// as a copy, served with the sealed reply to its author alone (nobody else, not
// even the original's sender), kept once the reply is delivered (the sealed
// reply too), and swept with the envelope.
func TestReplyCopy(t *testing.T) {
	e := newEnv(t)
	s := e.seal("hello", e.clock.Now().Add(48*time.Hour), "bob@patient.example", "alice@hospital.example")
	id := s[0].file.Header.ID
	bob := e.browser()
	bob.register(s[0], "Bob", "Patient")
	copyKey := append([]byte("wxk\x01"), bytes.Repeat([]byte{0x5a}, 104)...)
	sealed := sealedReplyBytes(300)
	copied := append(bytes.Clone(copyKey), sealed...)
	ct, body := replyForm(t, map[string][]byte{"reply": sealed, "copy_key": copyKey})
	st, out := bob.raw("POST", "/api/v1/envelopes/"+id.String()+"/replies?kind=reply", ct, body)
	if st != http.StatusCreated {
		t.Fatalf("post: %d %s", st, out)
	}
	var posted api.ReplyView
	if err := json.Unmarshal(out, &posted); err != nil || !posted.HasCopy || posted.Size != 304 {
		t.Fatalf("posted: %s %v", out, err)
	}
	st, list := bob.call("GET", "/api/v1/envelopes/"+id.String()+"/replies", nil)
	rs, _ := list["replies"].([]any)
	if st != http.StatusOK || len(rs) != 1 || rs[0].(map[string]any)["has_copy"] != true {
		t.Fatalf("list: %d %v", st, list)
	}
	copyPath := "/api/v1/envelopes/" + id.String() + "/replies/" + posted.ID + "/copy"
	if st, got := bob.raw("GET", copyPath, "", nil); st != http.StatusOK || !bytes.Equal(got, copied) {
		t.Fatalf("copy: %d %q", st, got)
	}
	// The original's sender manages the envelope, but the copy is the author's.
	alice := e.browser()
	alice.register(s[1], "Alice", "Sender")
	if st, got := alice.raw("GET", copyPath, "", nil); st != http.StatusForbidden {
		t.Fatalf("alice reads bob's copy: %d %s", st, got)
	}
	if st, got := bob.raw("GET", "/api/v1/envelopes/"+id.String()+"/replies/nosuch/copy", "", nil); st != http.StatusNotFound || !bytes.Contains(got, []byte("no_reply_copy")) {
		t.Fatalf("unknown reply: %d %s", st, got)
	}

	// Delivered: the sealed reply stays for the copy.
	leased, _ := e.svc.LeaseReplies(t.Context(), keyserver.Caller{}, 10, time.Minute)
	if len(leased) != 1 || len(leased[0].Sealed) != 304 {
		t.Fatalf("leased %+v", leased)
	}
	if err := e.svc.FinishReply(t.Context(), keyserver.Caller{}, leased[0].ID, leased[0].Lease, ""); err != nil {
		t.Fatal(err)
	}
	if st, got := bob.raw("GET", copyPath, "", nil); st != http.StatusOK || !bytes.Equal(got, copied) {
		t.Fatalf("copy after delivery: %d", st)
	}

	// Refusals: a copy that is not one, a part twice, an unknown part.
	for _, c := range []struct {
		parts map[string][]byte
		want  string
	}{
		{map[string][]byte{"reply": sealedReplyBytes(10), "copy_key": sealedReplyBytes(104)}, "not_a_reply"},
		{map[string][]byte{"reply": sealedReplyBytes(10), "copy_key": copyKey[:100]}, "not_a_reply"},
		{map[string][]byte{"reply": sealedReplyBytes(10), "copy_key": append(bytes.Clone(copyKey), 0)}, "reply_too_large"},
		{map[string][]byte{"copy_key": copyKey}, "not_a_reply"},
		{map[string][]byte{"reply": sealedReplyBytes(10), "note": []byte("x")}, "bad_request"},
	} {
		ct, body := replyForm(t, c.parts)
		if st, got := bob.raw("POST", "/api/v1/envelopes/"+id.String()+"/replies?kind=reply", ct, body); st < 400 || !bytes.Contains(got, []byte(c.want)) {
			t.Errorf("%v: %d %s, want %s", slices.Collect(maps.Keys(c.parts)), st, got, c.want)
		}
	}

	// Expiry sweeps the reply and its copy.
	e.clock.Add(49 * time.Hour)
	if _, err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rs, _ := e.store.RepliesOf(t.Context(), id); len(rs) != 0 {
		t.Fatalf("%d replies outlived their envelope", len(rs))
	}
}

// TestForwardPolicy: the key server refuses, when the reply is posted, a
// forward the policy does not allow, with forward_not_allowed, and audits it.
func TestForwardPolicy(t *testing.T) {
	for _, c := range []struct {
		policy, to, want string
	}{
		{"", "gp@clinic.example", "forward_not_allowed"}, // the default is "organisation"
		{"organisation", "gp@clinic.example", "forward_not_allowed"},
		{"organisation", "carol@hospital.example", ""},
		{"none", "carol@hospital.example", "forward_not_allowed"},
		{"any", "gp@clinic.example", ""},
	} {
		e := newEnv(t, func(cfg *keyserver.Config) { cfg.ReplyForward = c.policy })
		s := e.seal("hello", time.Time{}, "bob@patient.example")[0]
		e.browser().register(s, "Bob", "Patient")
		p := recipientPrincipal(t, e, "bob@patient.example")
		_, err := e.svc.PostReply(t.Context(), p, s.file.Header.ID, keyserver.ReplyKindForward, c.to, sealedReplyBytes(100), nil)
		var ke *keyserver.Error
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q to %s: %v", c.policy, c.to, err)
		case c.want != "" && (!errors.As(err, &ke) || ke.Code != c.want || ke.Status != http.StatusForbidden):
			t.Errorf("%q to %s: %v, want %s", c.policy, c.to, err, c.want)
		}
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = keyserver.New(keyserver.Config{PublicURL: "http://localhost:8080", ReplyForward: "everyone"}, st)
	if err == nil || !strings.Contains(err.Error(), `"everyone"`) {
		t.Errorf("forward = everyone: %v", err)
	}
}

// countingReplies counts the store's reply reads.
type countingReplies struct {
	keyserver.Store
	mu            sync.Mutex
	of, envelopes int
}

func (c *countingReplies) RepliesOf(ctx context.Context, env envelope.ID) ([]keyserver.StoredReply, error) {
	c.mu.Lock()
	c.of++
	c.mu.Unlock()
	return c.Store.RepliesOf(ctx, env)
}

func (c *countingReplies) RepliesOfEnvelopes(ctx context.Context, envs []envelope.ID) (map[envelope.ID][]keyserver.StoredReply, error) {
	c.mu.Lock()
	c.envelopes++
	c.mu.Unlock()
	return c.Store.RepliesOfEnvelopes(ctx, envs)
}

// TestSentRepliesOneStoreRead: a page of sent items reads the replies of all
// its envelopes in one store call, not one per envelope.
func TestSentRepliesOneStoreRead(t *testing.T) {
	var counter *countingReplies
	e := newEnvOver(t, func(s keyserver.Store) keyserver.Store {
		counter = &countingReplies{Store: s}
		return counter
	})
	s := e.seal("hello", time.Time{}, "bob@patient.example", "dan@patient.example", "eve@patient.example", "alice@hospital.example")
	for i, who := range []string{"Bob", "Dan", "Eve"} {
		e.browser().register(s[i], who, "Patient")
		p := recipientPrincipal(t, e, strings.ToLower(who)+"@patient.example")
		if _, err := e.svc.PostReply(t.Context(), p, s[i].file.Header.ID, keyserver.ReplyKindReply, "", sealedReplyBytes(100+i), nil); err != nil {
			t.Fatal(err)
		}
	}
	alice := e.browser()
	alice.register(s[3], "Alice", "Sender")
	counter.mu.Lock()
	counter.of, counter.envelopes = 0, 0
	counter.mu.Unlock()
	st, out := alice.call("GET", "/api/v1/sent", nil)
	if st != http.StatusOK {
		t.Fatalf("sent: %d %v", st, out)
	}
	if replies := out["replies"].(map[string]any); len(replies) != 3 {
		t.Fatalf("replies of %d envelopes, want 3", len(replies))
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if counter.envelopes != 1 || counter.of != 0 {
		t.Errorf("a page of sent items read replies with %d batch and %d single calls, want 1 and 0", counter.envelopes, counter.of)
	}
}

// postCopiedReply posts, as bob, a reply with a copy key to s whose sealed
// bytes carry canary, and returns the copy's path and the reply's id.
func postCopiedReply(t *testing.T, bob *browser, id envelope.ID, canary string) (string, string) {
	t.Helper()
	copyKey := append([]byte("wxk\x01"), bytes.Repeat([]byte{0x5a}, 104)...)
	sealed := canarySealed(canary)
	ct, body := replyForm(t, map[string][]byte{"reply": sealed, "copy_key": copyKey})
	st, out := bob.raw("POST", "/api/v1/envelopes/"+id.String()+"/replies?kind=reply", ct, body)
	if st != http.StatusCreated {
		t.Fatalf("post: %d %s", st, out)
	}
	var posted api.ReplyView
	if err := json.Unmarshal(out, &posted); err != nil {
		t.Fatal(err)
	}
	return "/api/v1/envelopes/" + id.String() + "/replies/" + posted.ID + "/copy", posted.ID
}

// canarySealed stands in for a sealed reply whose bytes are canary, repeated.
func canarySealed(canary string) []byte {
	return append([]byte("wxr\x01"), []byte(strings.Repeat(canary, 20))...)
}

// deliverAll leases and reports delivered every due reply, as a gateway.
func deliverAll(t *testing.T, e *env) int {
	t.Helper()
	leased, err := e.svc.LeaseReplies(t.Context(), keyserver.Caller{}, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leased {
		if err := e.svc.FinishReply(t.Context(), keyserver.Caller{}, l.ID, l.Lease, ""); err != nil {
			t.Fatal(err)
		}
	}
	return len(leased)
}

func replyActions(t *testing.T, e *env, action keyserver.AuditAction) []string {
	t.Helper()
	var out []string
	e.store.Audit(t.Context(), 1, func(r keyserver.AuditRecord) (bool, error) {
		if r.Action == action {
			out = append(out, r.Detail)
		}
		return true, nil
	})
	return out
}

// TestReplyCopyAfterRevoke: revoking an envelope deletes its replies at once,
// the delivered one kept as the recipient's copy and the pending one, and the
// copy endpoint then answers the envelope's own refusal, 410 revoked (before
// and after the sweep), never the sealed bytes; the drop is audited with a
// count only.
func TestReplyCopyAfterRevoke(t *testing.T) {
	e := newEnv(t)
	s := e.seal("hello", time.Time{}, "bob@patient.example")[0]
	id := s.file.Header.ID
	bob := e.browser()
	bob.register(s, "Bob", "Patient")
	deliveredPath, _ := postCopiedReply(t, bob, id, "canary-delivered-")
	if n := deliverAll(t, e); n != 1 {
		t.Fatalf("delivered %d", n)
	}
	pendingPath, _ := postCopiedReply(t, bob, id, "canary-pending-")
	for _, p := range []string{deliveredPath, pendingPath} {
		if st, got := bob.raw("GET", p, "", nil); st != http.StatusOK || !bytes.Contains(got, []byte("canary-")) {
			t.Fatalf("copy before the revoke: %d", st)
		}
	}

	if _, err := e.svc.Revoke(t.Context(), keyserver.Caller{Admin: true}, id); err != nil {
		t.Fatal(err)
	}
	if rs, _ := e.store.RepliesOf(t.Context(), id); len(rs) != 0 {
		t.Fatalf("%d replies outlived the revoke", len(rs))
	}
	for _, p := range []string{deliveredPath, pendingPath, "/api/v1/envelopes/" + id.String() + "/replies/nosuch/copy"} {
		st, got := bob.raw("GET", p, "", nil)
		if st != http.StatusGone || !bytes.Contains(got, []byte(`"revoked"`)) || bytes.Contains(got, []byte("canary")) {
			t.Errorf("copy %s after the revoke: %d %s, want 410 revoked", p, st, got)
		}
	}
	if n := deliverAll(t, e); n != 0 {
		t.Errorf("the gateway got %d replies of a revoked envelope", n)
	}
	if _, err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, _ := bob.raw("GET", deliveredPath, "", nil); st != http.StatusGone {
		t.Errorf("copy after the sweep: %d, want 410", st)
	}
	if got := replyActions(t, e, keyserver.ActionReplyDrop); !slices.Equal(got, []string{"2 replies, envelope revoked"}) {
		t.Errorf("reply.drop audit: %q", got)
	}
	// Someone else asking learns nothing of the envelope's state.
	other := e.seal("other", time.Time{}, "carol@patient.example")[0]
	carol := e.browser()
	carol.register(other, "Carol", "Other")
	if st, got := carol.raw("GET", deliveredPath, "", nil); st != http.StatusForbidden {
		t.Errorf("carol asks for bob's copy: %d %s, want 403", st, got)
	}
}

// TestReplyCopyAfterExpiry: once the envelope's time is up the copy is refused
// with 410 expired even before the sweep destroys the key, the gateway is
// given none of its pending replies (they are dropped instead), and the sweep
// removes the rest; an administrator's Expire drops them at once.
func TestReplyCopyAfterExpiry(t *testing.T) {
	e := newEnv(t)
	ss := e.seal("hello", e.clock.Now().Add(48*time.Hour), "bob@patient.example", "bob@patient.example")
	id, id2 := ss[0].file.Header.ID, ss[1].file.Header.ID
	bob := e.browser()
	bob.register(ss[0], "Bob", "Patient")
	deliveredPath, _ := postCopiedReply(t, bob, id, "canary-delivered-")
	if n := deliverAll(t, e); n != 1 {
		t.Fatalf("delivered %d", n)
	}
	pendingPath, _ := postCopiedReply(t, bob, id, "canary-pending-")
	copy2, _ := postCopiedReply(t, bob, id2, "canary-second-")

	// Expire the second now, as an administrator: its reply goes at once.
	if _, err := e.svc.Expire(t.Context(), keyserver.Caller{Admin: true}, id2); err != nil {
		t.Fatal(err)
	}
	if rs, _ := e.store.RepliesOf(t.Context(), id2); len(rs) != 0 {
		t.Fatalf("%d replies outlived Expire", len(rs))
	}
	if st, got := bob.raw("GET", copy2, "", nil); st != http.StatusGone || !bytes.Contains(got, []byte(`"expired"`)) {
		t.Errorf("copy after Expire: %d %s", st, got)
	}

	// The first's time runs out; the sweep has not run yet. (Bob signs in
	// again: his session ended meanwhile.)
	e.clock.Add(49 * time.Hour)
	bob = e.browser()
	if st, out := bob.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": password}); st != http.StatusOK {
		t.Fatalf("sign in: %d %v", st, out)
	}
	for _, p := range []string{deliveredPath, pendingPath} {
		st, got := bob.raw("GET", p, "", nil)
		if st != http.StatusGone || !bytes.Contains(got, []byte(`"expired"`)) || bytes.Contains(got, []byte("canary")) {
			t.Errorf("copy %s after expiry: %d %s, want 410 expired", p, st, got)
		}
	}
	if n := deliverAll(t, e); n != 0 {
		t.Errorf("the gateway got %d replies of an expired envelope", n)
	}
	if rs, _ := e.store.RepliesOf(t.Context(), id); len(rs) != 0 {
		t.Errorf("leasing left %d replies of an expired envelope", len(rs))
	}
	if _, err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, _ := bob.raw("GET", deliveredPath, "", nil); st != http.StatusGone {
		t.Errorf("copy after the sweep: %d, want 410", st)
	}
}

// inDatabase counts the sealed reply canarySealed(canary) in the bbolt file,
// where the record holds it base64-encoded. bbolt does not scrub freed pages;
// this is what the sweep's deletions, and the commits after them, leave.
func inDatabase(t *testing.T, e *env, canary string) int {
	t.Helper()
	db, err := os.ReadFile(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString(canarySealed(canary))
	return bytes.Count(db, []byte(enc[:len(enc)-4])) // without the padded end
}

// TestSweepRemovesStaleReplies: replies left behind by a revocation or expiry
// that did not delete them (a crash between the two, or records from before
// the deletion existed) are removed by the sweep: pending, delivered and kept
// only as the recipient's copy; those of a live envelope stay. The sealed
// bytes are then no longer in the bbolt file (grepped before and after).
func TestSweepRemovesStaleReplies(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	ss := e.seal("hello", time.Time{}, "bob@patient.example", "bob@patient.example", "bob@patient.example")
	revoked, expired, live := ss[0].file.Header.ID, ss[1].file.Header.ID, ss[2].file.Header.ID
	bob := e.browser()
	bob.register(ss[0], "Bob", "Patient")
	postCopiedReply(t, bob, revoked, "canary-revoked-delivered-")
	postCopiedReply(t, bob, expired, "canary-expired-delivered-")
	if n := deliverAll(t, e); n != 2 {
		t.Fatalf("delivered %d", n)
	}
	postCopiedReply(t, bob, revoked, "canary-revoked-pending-")
	postCopiedReply(t, bob, live, "canary-live-")

	for _, c := range []string{"canary-revoked-pending-", "canary-revoked-delivered-", "canary-expired-delivered-", "canary-live-"} {
		if n := inDatabase(t, e, c); n < 1 {
			t.Fatalf("the grep finds %s %d times in the bbolt file before the sweep", c, n)
		}
	}
	// Destroy the keys in the store directly, as a revocation and an expiry
	// whose reply deletion never ran.
	for id, revoke := range map[envelope.ID]bool{revoked: true, expired: false} {
		_, err := e.store.UpdateEnvelope(ctx, id, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
			if revoke {
				r.Revoked = e.clock.Now()
			} else {
				r.Expired, r.Expires = e.clock.Now(), e.clock.Now()
			}
			r.WrappedKey, r.HasPayload = nil, false
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, err := e.svc.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	byEnv, err := e.store.RepliesOfEnvelopes(ctx, []envelope.ID{revoked, expired, live})
	if err != nil {
		t.Fatal(err)
	}
	if len(byEnv) != 1 || len(byEnv[live]) != 1 {
		t.Fatalf("after the sweep: %d envelopes with replies (%d live), want only the live one", len(byEnv), len(byEnv[live]))
	}
	for c, want := range map[string]int{"canary-revoked-pending-": 0, "canary-revoked-delivered-": 0, "canary-expired-delivered-": 0, "canary-live-": 1} {
		if got := inDatabase(t, e, c); got != want {
			t.Errorf("after the sweep, the bbolt file holds %s %d times, want %d", c, got, want)
		}
	}
	drops := replyActions(t, e, keyserver.ActionReplyDrop)
	slices.Sort(drops)
	if !slices.Equal(drops, []string{"1 replies, envelope expired", "2 replies, envelope revoked"}) {
		t.Errorf("reply.drop audit: %q", drops)
	}
	if strings.Contains(e.logs.String(), "canary") {
		t.Error("a reply's sealed bytes reached the log")
	}
}

// TestBulkRevokeDropsReplies: a bulk revoke (an incident) deletes the replies
// of every envelope it revokes, and only theirs.
func TestBulkRevokeDropsReplies(t *testing.T) {
	e := newEnv(t)
	ss := e.seal("hello", time.Time{}, "bob@patient.example", "bob@patient.example")
	bob := e.browser()
	bob.register(ss[0], "Bob", "Patient")
	a, b := ss[0].file.Header.ID, ss[1].file.Header.ID
	pathA, _ := postCopiedReply(t, bob, a, "canary-a-")
	postCopiedReply(t, bob, a, "canary-a2-")
	deliverAll(t, e)
	// A second sender's envelope, with a reply, is outside the bulk's match.
	other := e.seal("From: dan@hospital.example\r\n\r\nhi", time.Time{}, "bob@patient.example")[0]
	_, err := e.store.UpdateEnvelope(t.Context(), other.file.Header.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.Sender = "dan@hospital.example"
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	postCopiedReply(t, bob, other.file.Header.ID, "canary-other-")
	_, changed, _ := bulkAll(t, e.svc, keyserver.Caller{Admin: true}, keyserver.BulkRequest{Action: keyserver.BulkRevoke, Sender: "alice@hospital.example"})
	if changed != 2 {
		t.Fatalf("bulk revoke changed %d, want 2", changed)
	}
	byEnv, err := e.store.RepliesOfEnvelopes(t.Context(), []envelope.ID{a, b, other.file.Header.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(byEnv) != 1 || len(byEnv[other.file.Header.ID]) != 1 {
		t.Fatalf("after the bulk revoke: %d envelopes keep replies, want only the unrevoked one", len(byEnv))
	}
	if st, got := bob.raw("GET", pathA, "", nil); st != http.StatusGone || !bytes.Contains(got, []byte(`"revoked"`)) {
		t.Errorf("copy after the bulk revoke: %d %s", st, got)
	}
}

// TestPageOffersForwardByPolicy: the message page carries the reply key and the
// forward policy its script hides Forward by (reply.js: hidden under "none");
// without a reply key it offers no secure reply at all.
func TestPageOffersForwardByPolicy(t *testing.T) {
	const pub = "3p4WGzjRj2dO5kfc2WwUnvzW-H5fh1i3m3b5lX1a8nA"
	for _, c := range []struct{ key, policy, want string }{
		{pub, "none", `data-forward="none"`},
		{pub, "", `data-forward="organisation"`},
		{pub, "any", `data-forward="any"`},
		{"", "any", ""},
	} {
		e := newEnv(t, func(cfg *keyserver.Config) { cfg.ReplyPublicKey, cfg.ReplyForward = c.key, c.policy })
		s := e.seal("hello", time.Time{}, "bob@patient.example")[0]
		resp, err := http.Get(e.srv.URL + "/open/" + s.file.Header.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if c.want == "" {
			if bytes.Contains(page, []byte(`id="panel-reply"`)) {
				t.Errorf("without a reply key the page offers replies")
			}
			continue
		}
		if !bytes.Contains(page, []byte(c.want)) || !bytes.Contains(page, []byte(`data-reply-key="`+pub+`"`)) {
			t.Errorf("forward %q: the page lacks %s or the reply key", c.policy, c.want)
		}
	}
}
