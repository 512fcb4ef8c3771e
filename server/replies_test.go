package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/brand"
	"github.com/waxseal/waxseal/envelope/reply"
	"github.com/waxseal/waxseal/envelope/reply/compose"
	"github.com/waxseal/waxseal/server/policy"
)

// memReplies is an in-memory ReplySource with leases, for unit tests.
type memReplies struct {
	mu      sync.Mutex
	pending []PendingReply
	leased  map[string]string // id -> lease
	acked   []string
	failed  map[string]string
	leases  int // LeaseReplies calls
}

func (m *memReplies) LeaseReplies(_ context.Context, limit int, _ time.Duration) ([]PendingReply, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leases++
	if m.leased == nil {
		m.leased = map[string]string{}
	}
	var out []PendingReply
	for _, r := range m.pending {
		if _, busy := m.leased[r.ID]; busy || len(out) == limit {
			continue
		}
		r.Lease = fmt.Sprintf("lease-%s-%d", r.ID, m.leases)
		m.leased[r.ID] = r.Lease
		out = append(out, r)
	}
	return out, nil
}

func (m *memReplies) done(id, lease string) error {
	if m.leased[id] != lease {
		return fmt.Errorf("lease %q of %s is not held", lease, id)
	}
	delete(m.leased, id)
	for i, r := range m.pending {
		if r.ID == id {
			m.pending = append(m.pending[:i], m.pending[i+1:]...)
			break
		}
	}
	return nil
}

func (m *memReplies) AckReply(_ context.Context, id, lease string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acked = append(m.acked, id)
	return m.done(id, lease)
}

func (m *memReplies) FailReply(_ context.Context, id, lease, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failed == nil {
		m.failed = map[string]string{}
	}
	m.failed[id] = reason
	return m.done(id, lease)
}

var replyKey = func() reply.KeyPair {
	kp, err := reply.GenerateKey()
	if err != nil {
		panic(err)
	}
	return kp
}()

// sealedReply is what a browser sends: Build's message with extra header lines
// the browser wrote on top (which the gateway must ignore), sealed.
func sealedReply(t testing.TB, forged string, d *compose.Draft) []byte {
	t.Helper()
	msg, err := compose.Build(d, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := compose.Seal(append([]byte(forged), msg...), &replyKey.Public, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// sealedContext is a reply context as the gateway seals it at registration.
func sealedContext(rc replyContext) []byte {
	b, _ := json.Marshal(rc)
	sealed, err := compose.Seal(b, &replyKey.Public, rand.Reader)
	if err != nil {
		panic(err)
	}
	return sealed
}

// pendingReply is a reply as the key server leases it: the people from its
// record, the threading and the other recipients in the sealed context.
func pendingReply(id, kind string, sealed []byte) PendingReply {
	return PendingReply{
		ID: id, EnvelopeID: "env-" + id, Kind: kind, Sealed: sealed,
		From:     mail.Address{Name: "Bob Patient", Address: "bob@patient.example"},
		Original: ReplyOriginal{Subject: "Lab results", From: "alice@hospital.example"},
		Context: sealedContext(replyContext{MessageID: "orig-1@hospital.example", References: []string{"thread-0@hospital.example"},
			WrapperID: "wrap-1@gateway.test", To: []string{"bob@patient.example", "carol@hospital.example"}, Cc: []string{"dave@elsewhere.example"}}),
	}
}

func newDeliverer(t *testing.T, e *gw, src ReplySource, forward string) *ReplyDeliverer {
	t.Helper()
	d, err := e.g.NewReplyDeliverer(ReplyConfig{Source: src, Keys: []reply.KeyPair{replyKey}, Forward: forward, LedgerDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// attachments reads a delivered reply's parts: text and attachments by name.
func replyParts(t *testing.T, data []byte) (*mail.Message, string, map[string][]byte) {
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
	text, files := "", map[string][]byte{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		if p.FileName() == "" {
			text = string(b)
		} else {
			files[p.FileName()] = b
		}
	}
	return m, text, files
}

const forgedHeaders = "From: Mallory <mallory@evil.example>\r\nTo: mallory@evil.example\r\nBcc: eve@evil.example\r\n" +
	"Message-ID: <forged@evil.example>\r\nIn-Reply-To: <forged@evil.example>\r\nSender: mallory@evil.example\r\n"

// TestReplyDeliveredToSender: a reply reaches the original sender with the
// gateway's From, To and threading, whatever the browser wrote, and the
// attachment's exact bytes; the key server is acknowledged.
func TestReplyDeliveredToSender(t *testing.T) {
	e := startGateway(t, gwOptions{})
	pdf := make([]byte, 300_001)
	rand.Read(pdf)
	src := &memReplies{pending: []PendingReply{pendingReply("r1", ReplyToSender, sealedReply(t, forgedHeaders, &compose.Draft{
		Subject: "Re: Lab results", Text: "Thank you, doctor.", Quote: "Your results are fine.",
		Attachments: []compose.Attachment{{Name: "questions.pdf", ContentType: "application/pdf", Data: pdf}},
	}))}}
	d := newDeliverer(t, e, src, "")
	if n, err := d.DeliverOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("DeliverOnce: %d %v", n, err)
	}
	got := e.hop.received()
	if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "alice@hospital.example" || got[0].From != "bob@patient.example" {
		t.Fatalf("next hop got %+v", got)
	}
	m, text, files := replyParts(t, got[0].Data)
	for field, want := range map[string]string{
		"From": `"Bob Patient" <bob@patient.example>`, "To": "alice@hospital.example", "Cc": "", "Bcc": "", "Sender": "",
		"In-Reply-To": "<orig-1@hospital.example>", "References": "<thread-0@hospital.example> <orig-1@hospital.example> <wrap-1@gateway.test>",
		"Subject": "Re: Lab results",
	} {
		if v := m.Header.Get(field); v != want {
			t.Errorf("%s: %q, want %q", field, v, want)
		}
	}
	if id := m.Header.Get("Message-ID"); !strings.HasSuffix(id, "@gateway.test>") || strings.Contains(id, "forged") {
		t.Errorf("Message-ID %q is not the gateway's", id)
	}
	if bytes.Contains(got[0].Data, []byte("evil.example")) {
		t.Errorf("a header the browser wrote was delivered:\n%.600s", got[0].Data)
	}
	if !strings.HasPrefix(text, "Thank you, doctor.") || !strings.Contains(text, "> Your results are fine.") {
		t.Errorf("text %q", text)
	}
	if !bytes.Equal(files["questions.pdf"], pdf) {
		t.Errorf("attachment: %d bytes, equal=%v", len(files["questions.pdf"]), bytes.Equal(files["questions.pdf"], pdf))
	}
	if len(src.acked) != 1 || len(src.pending) != 0 {
		t.Errorf("acked %v, pending %d", src.acked, len(src.pending))
	}
	if src.leases != 1 {
		t.Errorf("%d key-server round trips to lease one batch", src.leases)
	}
}

// TestReplyAllSealsExternal: reply all goes to the sender and the visible other
// recipients, never to the replier; internal ones get it in plaintext, the
// external one gets an envelope that opens to the reply.
func TestReplyAllSealsExternal(t *testing.T) {
	e := startGateway(t, gwOptions{})
	src := &memReplies{pending: []PendingReply{pendingReply("r2", ReplyToAll, sealedReply(t, "", &compose.Draft{
		Subject: "Re: Lab results", Text: "canary-reply-all-7731",
	}))}}
	d := newDeliverer(t, e, src, "")
	if _, err := d.DeliverOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"alice@hospital.example", "carol@hospital.example"} {
		got := e.hop.to(rcpt)
		if len(got) != 1 {
			t.Fatalf("%s: %d copies", rcpt, len(got))
		}
		m, text, _ := replyParts(t, got[0].Data)
		if text != "canary-reply-all-7731" || m.Header.Get("To") != "alice@hospital.example" || m.Header.Get("Cc") != "carol@hospital.example, dave@elsewhere.example" {
			t.Errorf("%s: To %q Cc %q text %q", rcpt, m.Header.Get("To"), m.Header.Get("Cc"), text)
		}
	}
	if got := e.hop.to("bob@patient.example"); len(got) != 0 {
		t.Errorf("the replier got %d copies of their own reply", len(got))
	}
	dave := e.hop.to("dave@elsewhere.example")
	if len(dave) != 1 || bytes.Contains(dave[0].Data, []byte("canary-reply-all-7731")) || bytes.Contains(dave[0].Data, []byte(base64.StdEncoding.EncodeToString([]byte("canary-reply-all")))) {
		t.Fatalf("external copy: %d, or in plaintext", len(dave))
	}
	_, _, _, file := wrapperParts(t, dave[0].Data)
	opened := e.ks.openAs(&browser{k: e.ks}, file)
	if _, text, _ := replyParts(t, opened); text != "canary-reply-all-7731" {
		t.Errorf("the envelope opens to %q", text)
	}
	if len(src.acked) != 1 {
		t.Errorf("acked %v", src.acked)
	}
}

// TestReplyOnBehalfSender: what a reply sends outside goes under the
// organisation's system sender (DMARC: the replier's own domain did not send
// it) with their name and their address as Reply-To, and its bounces come back
// to the organisation; what stays inside keeps the replier's verified address.
func TestReplyOnBehalfSender(t *testing.T) {
	for _, c := range []struct {
		replyTo, wantReplyTo, brand, notifyName, wantFrom string
	}{
		{"", `"Bob Patient" <bob@patient.example>`, "", "Hospital", `"Bob Patient via Hospital" <postmaster@hospital.example>`},
		{"Secure Mail Desk <securemail@hospital.example>", `"Secure Mail Desk" <securemail@hospital.example>`, "", "Hospital",
			`"Bob Patient via Hospital" <postmaster@hospital.example>`},
		// The brand's name before the sender's display name.
		{"", `"Bob Patient" <bob@patient.example>`, "St Mary's", "Secure Mail", `"Bob Patient via St Mary's" <postmaster@hospital.example>`},
	} {
		e := startGateway(t, gwOptions{tweak: func(cfg *Config) {
			cfg.NotifyFrom = c.notifyName + " <postmaster@hospital.example>"
			cfg.WrapperReplyTo = c.replyTo
			if c.brand != "" {
				cfg.Brand = &brand.Brand{Name: c.brand}
			}
		}})
		src := &memReplies{pending: []PendingReply{pendingReply("d1", ReplyToAll, sealedReply(t, "From: mallory@evil.example\r\n", &compose.Draft{
			Subject: "Re: Lab results", Text: "dmarc-canary",
		}))}}
		if _, err := newDeliverer(t, e, src, "").DeliverOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		dave := e.hop.to("dave@elsewhere.example")
		if len(dave) != 1 {
			t.Fatalf("external copies: %d", len(dave))
		}
		m, err := mail.ReadMessage(bytes.NewReader(dave[0].Data))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Get("From"); got != c.wantFrom {
			t.Errorf("external wrapper From %q, want %q", got, c.wantFrom)
		}
		if got := m.Header.Get("Reply-To"); got != c.wantReplyTo {
			t.Errorf("external wrapper Reply-To %q, want %q", got, c.wantReplyTo)
		}
		if dave[0].From != "postmaster@hospital.example" {
			t.Errorf("external MAIL FROM %q", dave[0].From)
		}
		// The envelope inside still says who wrote.
		_, _, _, file := wrapperParts(t, dave[0].Data)
		if file.Header.From != `"Bob Patient" <bob@patient.example>` {
			t.Errorf("the envelope names %q", file.Header.From)
		}
		alice := e.hop.to("alice@hospital.example")
		if len(alice) != 1 {
			t.Fatalf("internal copies: %d", len(alice))
		}
		im, _ := mail.ReadMessage(bytes.NewReader(alice[0].Data))
		if got := im.Header.Get("From"); got != `"Bob Patient" <bob@patient.example>` || alice[0].From != "bob@patient.example" {
			t.Errorf("internal From %q, MAIL FROM %q", got, alice[0].From)
		}
	}
	if _, err := New(Config{Relay: &SMTPRelay{}, Policy: newPolicy(t), KeyServer: startKeyServer(t).client(), KeyServerURL: publicURL, NotifyFrom: "not an address"}); err == nil || !strings.Contains(err.Error(), "notify_from") {
		t.Errorf("notify_from = not an address: %v", err)
	}
}

// TestReplyRefusals: forwards the policy does not allow, a reply no key opens
// and an unknown kind are refused for good, with the reason kept at the key
// server, and nothing is sent.
func TestReplyRefusals(t *testing.T) {
	e := startGateway(t, gwOptions{})
	sealed := sealedReply(t, "", &compose.Draft{Text: "hello"})
	other, _ := reply.GenerateKey()
	wrongKey, _ := compose.Seal([]byte("Subject: x\r\n\r\nx"), &other.Public, rand.Reader)
	fwd := func(id, to string) PendingReply {
		r := pendingReply(id, ReplyForward, sealed)
		r.ForwardTo = to
		return r
	}
	unknown := pendingReply("kind", "redirect", sealed)
	for _, c := range []struct {
		forward string
		r       PendingReply
		reason  string
	}{
		{ForwardNone, fwd("f1", "carol@hospital.example"), "forwarding is not allowed by the organisation's policy"},
		{ForwardOrganisation, fwd("f2", "eve@elsewhere.example"), "forwarding is allowed only to the organisation's own addresses"},
		{ForwardAny, fwd("f3", "not an address"), "forward recipient is not a valid address"},
		{"", pendingReply("w", ReplyToSender, wrongKey), reply.ErrNoKey.Error()},
		{"", unknown, `unknown reply kind "redirect"`},
	} {
		src := &memReplies{pending: []PendingReply{c.r}}
		if _, err := newDeliverer(t, e, src, c.forward).DeliverOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if src.failed[c.r.ID] != c.reason || len(src.acked) != 0 {
			t.Errorf("%s (forward %q): failed %q, want %q; acked %v", c.r.ID, c.forward, src.failed[c.r.ID], c.reason, src.acked)
		}
	}
	if got := e.hop.received(); len(got) != 0 {
		t.Errorf("refused replies reached the next hop: %d", len(got))
	}
	if _, err := e.g.NewReplyDeliverer(ReplyConfig{Source: &memReplies{}, Keys: []reply.KeyPair{replyKey}, Forward: "everyone", LedgerDir: t.TempDir()}); err == nil {
		t.Error("forward = everyone accepted")
	}
}

// TestReplyWithoutContext: an envelope registered without a reply context
// (an older gateway) takes replies to its sender, unthreaded, but not reply all.
func TestReplyWithoutContext(t *testing.T) {
	e := startGateway(t, gwOptions{})
	plain := pendingReply("n1", ReplyToSender, sealedReply(t, "", &compose.Draft{Text: "no context"}))
	plain.Context = nil
	all := pendingReply("n2", ReplyToAll, sealedReply(t, "", &compose.Draft{Text: "no context"}))
	all.Context = nil
	src := &memReplies{pending: []PendingReply{plain, all}}
	if _, err := newDeliverer(t, e, src, "").DeliverOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := e.hop.to("alice@hospital.example")
	if len(got) != 1 || bytes.Contains(got[0].Data, []byte("In-Reply-To")) {
		t.Fatalf("reply without context: %d copies", len(got))
	}
	if want := "the original message's recipients are not known: reply to the sender instead"; src.failed["n2"] != want {
		t.Errorf("reply all without context: %q", src.failed["n2"])
	}
	if len(e.hop.to("carol@hospital.example")) != 0 {
		t.Error("reply all without context reached carol")
	}
}

// TestForwardAllowed: "organisation" forwards inside, "any" seals outside.
func TestForwardAllowed(t *testing.T) {
	e := startGateway(t, gwOptions{})
	r := pendingReply("f4", ReplyForward, sealedReply(t, "", &compose.Draft{Subject: "Fwd: Lab results", Text: "fwd-canary-1"}))
	r.ForwardTo = "carol@hospital.example"
	src := &memReplies{pending: []PendingReply{r}}
	if _, err := newDeliverer(t, e, src, ForwardOrganisation).DeliverOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.hop.to("carol@hospital.example"); len(got) != 1 || !bytes.Contains(got[0].Data, []byte("To: carol@hospital.example\r\n")) {
		t.Fatalf("internal forward: %d copies", len(got))
	}
	r = pendingReply("f5", ReplyForward, sealedReply(t, "", &compose.Draft{Subject: "Fwd: Lab results", Text: "fwd-canary-2"}))
	r.ForwardTo = "gp@clinic.example"
	src = &memReplies{pending: []PendingReply{r}}
	if _, err := newDeliverer(t, e, src, ForwardAny).DeliverOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := e.hop.to("gp@clinic.example")
	if len(got) != 1 || bytes.Contains(got[0].Data, []byte("fwd-canary-2")) || !bytes.Contains(got[0].Data, []byte("securedoc_")) {
		t.Fatalf("external forward: %d copies, or not sealed", len(got))
	}
}

// TestReplyLedgerPreventsSecondDelivery: a reply delivered whose
// acknowledgement was lost is acknowledged on the next lease, not sent again,
// and a retry before delivery reuses its Message-ID.
func TestReplyLedgerPreventsSecondDelivery(t *testing.T) {
	e := startGateway(t, gwOptions{})
	src := &lostAcks{memReplies: memReplies{pending: []PendingReply{pendingReply("r9", ReplyToSender, sealedReply(t, "", &compose.Draft{Text: "once"}))}}, lose: 1}
	d := newDeliverer(t, e, src, "")
	for i := 0; i < 2; i++ {
		src.mu.Lock()
		src.leased = nil // the lease ran out
		src.mu.Unlock()
		if _, err := d.DeliverOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.hop.to("alice@hospital.example"); len(got) != 1 {
		t.Fatalf("delivered %d times", len(got))
	}
	if len(src.pending) != 0 {
		t.Fatalf("still pending: %v", src.pending)
	}
}

type lostAcks struct {
	memReplies
	lose int
}

func (l *lostAcks) AckReply(ctx context.Context, id, lease string) error {
	if l.lose > 0 {
		l.lose--
		return fmt.Errorf("connection reset")
	}
	return l.memReplies.AckReply(ctx, id, lease)
}

// TestStaffAnswerToReplyIsSealed: the Message-ID the gateway gives a delivered
// reply is one it recognises as its own, so a member of staff answering the
// patient's reply (In-Reply-To that id, no trigger in the subject) is sealed,
// without asking the key server.
func TestStaffAnswerToReplyIsSealed(t *testing.T) {
	threads := &failingThreads{}
	ids := policy.NewIDMinter("gateway secret")
	e := startGateway(t, gwOptions{tweak: func(c *Config) { c.Policy = threadPolicy(t, threads, ids) }})
	src := &memReplies{pending: []PendingReply{pendingReply("r-staff", ReplyToSender, sealedReply(t, "", &compose.Draft{
		Subject: "Re: Lab results", Text: "A question, doctor."}))}}
	d := newDeliverer(t, e, src, "")
	if n, err := d.DeliverOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("DeliverOnce: %d %v", n, err)
	}
	got := e.hop.to("alice@hospital.example")
	if len(got) != 1 {
		t.Fatalf("alice got %d mails", len(got))
	}
	m, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	replyID := m.Header.Get("Message-ID")
	answer := crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: Re: Re: Lab results\nIn-Reply-To: " + replyID +
		"\nReferences: " + replyID + "\n\nanswer-canary-9917\n")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, answer); se != nil {
		t.Fatal(se)
	}
	out := e.hop.to("bob@patient.example")
	if len(out) != 1 || bytes.Contains(out[0].Data, []byte("answer-canary-9917")) || !bytes.Contains(out[0].Data, []byte("securedoc_")) {
		t.Fatal("staff's answer to a secure reply left unsealed")
	}
	if threads.calls != 0 {
		t.Errorf("%d key-server thread lookups, want none: the id is the gateway's own", threads.calls)
	}
}
