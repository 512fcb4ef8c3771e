package keyserver_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/client"
)

func TestValidateAttachmentNames(t *testing.T) {
	many := make([]string, keyserver.MaxAttachmentNames+1)
	for i := range many {
		many[i] = "a.pdf"
	}
	for _, c := range []struct {
		names []string
		want  string // "" accepts
	}{
		{nil, ""},
		{many[:keyserver.MaxAttachmentNames], ""},
		{[]string{strings.Repeat("é", 127) + "x", "<script>alert(1)</script>.pdf", "名前.txt"}, ""}, // 255 bytes
		{many, "101 attachment names, at most 100"},
		{[]string{"a.pdf", ""}, "attachment name 2 is empty"},
		{[]string{strings.Repeat("é", 128)}, "attachment name 1 has 256 bytes, at most 255"},
		{[]string{"a\xff.pdf"}, "attachment name 1 is not valid UTF-8"},
		{[]string{"ok.pdf", "a\x00.pdf"}, "attachment name 2 holds a control character (U+0000)"},
		{[]string{"a\n.pdf"}, "attachment name 1 holds a control character (U+000A)"},
		{[]string{"a\u0085.pdf"}, "attachment name 1 holds a control character (U+0085)"},
		{[]string{"a\x7f.pdf"}, "attachment name 1 holds a control character (U+007F)"},
		{[]string{"invoice\u202Efdp.exe"}, "attachment name 1 holds a control character (U+202E)"},
		{[]string{"a\u2028b"}, "attachment name 1 holds a control character (U+2028)"},
	} {
		err := keyserver.ValidateAttachmentNames(c.names)
		if got := ""; err != nil {
			got = err.Error()
			if got != c.want {
				t.Errorf("%q: %q, want %q", c.names, got, c.want)
			}
		} else if c.want != "" {
			t.Errorf("%q accepted, want %q", c.names, c.want)
		}
	}
}

// TestSentItemsShowAttachmentNames: names a gateway registers come back, as
// given, in the sender's Sent items; a batch with a bad name is refused whole
// with a 400 that says which envelope and why.
func TestSentItemsShowAttachmentNames(t *testing.T) {
	e := newEnv(t)
	gw := client.New(e.srv.URL, gatewayToken, nil)
	register := func(names []string, to ...string) []envelope.ID {
		t.Helper()
		p, _ := envelope.EncryptPayload([]byte("x"))
		var regs []client.Registration
		var ids []envelope.ID
		for _, r := range to {
			en, keys, err := p.Seal(envelope.Header{KeyServer: e.public, From: "alice@hospital.example", To: r, Subject: "Results", Created: e.clock.Now()})
			if err != nil {
				t.Fatal(err)
			}
			regs = append(regs, client.Registration{Envelope: en, ServerKey: keys.Server, Message: "m-" + r, Attachments: names})
			ids = append(ids, en.Header.ID)
		}
		if err := gw.RegisterEnvelopes(t.Context(), regs); err != nil {
			t.Fatalf("register %q: %v", names, err)
		}
		return ids
	}
	names := []string{"results.pdf", "<script>alert(1)</script>.png"}
	register(names, "bob@patient.example")
	register(nil, "carol@patient.example")

	// Refusals, over HTTP, with the key server's exact words; the good
	// envelope in the same batch is not stored either.
	for _, c := range []struct {
		names []string
		want  string
	}{
		{make([]string, 101), "101 attachment names, at most 100"},
		{[]string{strings.Repeat("x", 256)}, "attachment name 1 has 256 bytes, at most 255"},
		{[]string{"ok.pdf", "tab\there.pdf"}, "attachment name 2 holds a control character (U+0009)"},
		{[]string{""}, "attachment name 1 is empty"},
	} {
		p, _ := envelope.EncryptPayload([]byte("x"))
		good, goodKeys, _ := p.Seal(envelope.Header{KeyServer: e.public, From: "alice@hospital.example", To: "dan@patient.example", Subject: "Results", Created: e.clock.Now()})
		bad, badKeys, _ := p.Seal(envelope.Header{KeyServer: e.public, From: "alice@hospital.example", To: "erin@patient.example", Subject: "Results", Created: e.clock.Now()})
		err := gw.RegisterEnvelopes(t.Context(), []client.Registration{
			{Envelope: good, ServerKey: goodKeys.Server, Attachments: []string{"fine.pdf"}},
			{Envelope: bad, ServerKey: badKeys.Server, Attachments: c.names},
		})
		var ae *client.APIError
		want := "Envelope " + bad.Header.ID.String() + ": " + c.want + "."
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != "bad_request" || ae.Message != want {
			t.Errorf("%.40q: %v, want 400 bad_request %q", c.names, err, want)
		}
		if _, err := e.store.Envelope(t.Context(), good.Header.ID); !errors.Is(err, keyserver.ErrNotFound) {
			t.Errorf("%.40q: the batch's good envelope was stored (%v)", c.names, err)
		}
	}

	alice := e.browser()
	alice.call("POST", "/api/v1/register/start", map[string]string{"email": "alice@hospital.example", "first_name": "Alice", "last_name": "Sender"})
	if st, out := alice.call("POST", "/api/v1/register/verify", map[string]string{"email": "alice@hospital.example", "code": e.lastCode("alice@hospital.example")}); st != http.StatusOK {
		t.Fatalf("sender register/verify: %d %v", st, out)
	}
	alice.addPasskey(e.auth(), "Office PC")
	st, out := alice.call("GET", "/api/v1/sent", nil)
	if st != http.StatusOK {
		t.Fatalf("sent: %d %v", st, out)
	}
	got := map[string][]string{}
	for _, m := range out["messages"].([]any) {
		m := m.(map[string]any)
		to := m["recipients"].([]any)[0].(map[string]any)["recipient"].(string)
		var list []string
		if a, ok := m["attachments"].([]any); ok {
			for _, n := range a {
				list = append(list, n.(string))
			}
		}
		got[to] = list
	}
	if len(got) != 2 || !slices.Equal(got["bob@patient.example"], names) || got["carol@patient.example"] != nil {
		t.Errorf("Sent items' attachments %q, want %q for bob and none for carol", got, names)
	}
}
