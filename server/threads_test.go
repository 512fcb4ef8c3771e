package server

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/server/policy"
)

type failingThreads struct{ calls int }

func (f *failingThreads) ThreadSealed(context.Context, []string) (bool, error) {
	f.calls++
	return false, errors.New("connection refused")
}

func threadPolicy(t *testing.T, threads policy.ThreadStore, ids *policy.IDMinter) *policy.Policy {
	t.Helper()
	tr, err := policy.NewTriggers(policy.DefaultPhrases, policy.DefaultPrefixes)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.New(policy.Config{InternalDomains: []string{"hospital.example"}, Triggers: tr, Threads: threads, IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestThreadLookupFailureWaits: when the key server cannot say whether a reply
// belongs to a secure conversation, the reply is not relayed (451); a message
// answering nothing, or going only to internal recipients, is not held up.
func TestThreadLookupFailureWaits(t *testing.T) {
	threads := &failingThreads{}
	e := startGateway(t, gwOptions{tweak: func(c *Config) { c.Policy = threadPolicy(t, threads, nil) }})
	reply := crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: Re: results\nIn-Reply-To: <m1@hospital.example>\n\nsecret\n")
	se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, reply)
	if se == nil || se.Code != 451 {
		t.Fatalf("reply with the thread store down: %v, want 451", se)
	}
	if len(e.hop.to("bob@patient.example")) != 0 {
		t.Fatal("relayed without knowing whether the thread is secure")
	}
	if se := submit(t, e.addr, "alice@hospital.example", []string{"carol@hospital.example"}, reply); se != nil {
		t.Errorf("internal reply: %v", se)
	}
	fresh := crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: lunch\n\nhi\n")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, fresh); se != nil {
		t.Errorf("a message answering nothing: %v", se)
	}
	if threads.calls != 1 {
		t.Errorf("%d lookups, want 1 (only the external reply needs one)", threads.calls)
	}
}

// TestRecognisedMessageIDSeals: a reply naming one of the gateways' own
// Message-IDs is sealed without asking the key server; a look-alike id with
// a wrong tag is not recognised.
func TestRecognisedMessageIDSeals(t *testing.T) {
	ids := policy.NewIDMinter("gateway secret")
	threads := &failingThreads{}
	e := startGateway(t, gwOptions{tweak: func(c *Config) { c.Policy = threadPolicy(t, threads, ids) }})
	own := ids.New("gw.hospital.example")
	reply := crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: Re: results\nReferences: <x@patient.example> <" + own + ">\n\nsecret-text\n")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, reply); se != nil {
		t.Fatal(se)
	}
	got := e.hop.to("bob@patient.example")
	if len(got) != 1 || bytes.Contains(got[0].Data, []byte("secret-text")) || !bytes.Contains(got[0].Data, []byte("securedoc_")) {
		t.Fatal("a reply to the gateway's own mail was not sealed")
	}
	if threads.calls != 0 {
		t.Errorf("asked the key server %d times for a recognised id", threads.calls)
	}
	forged := strings.Replace(own, "ws1.", "ws1.a", 1)
	if ids.Recognises(forged) || policy.NewIDMinter("another secret").Recognises(own) {
		t.Error("a forged id, or one under another key, is recognised")
	}
}
