package keyserver_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/client"
)

// TestThreadAPI: the gateway records a sealed message's Message-IDs and finds
// them again (with or without angle brackets), only with the gateway token;
// the database holds no id in clear; ids are forgotten after their retention
// (by the sweeper); calls are bounded.
func TestThreadAPI(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	gw := client.New(e.srv.URL, gatewayToken, nil)
	id := "m1.secret-thread-marker@hospital.example"
	if err := gw.RememberThread(ctx, []string{"<" + id + ">", "ws1.abc@gw.hospital.example"}, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, q := range [][]string{{id}, {"<" + id + ">"}, {"other@x", " <ws1.abc@gw.hospital.example> "}} {
		if ok, err := gw.ThreadSealed(ctx, q); err != nil || !ok {
			t.Errorf("ThreadSealed(%q) = %v, %v; want true", q, ok, err)
		}
	}
	if ok, err := gw.ThreadSealed(ctx, []string{"M1.secret-thread-marker@hospital.example", "other@x"}); err != nil || ok {
		t.Errorf("an unknown id (case differs) = %v, %v; want false", ok, err)
	}

	// Only the gateway token.
	for _, tok := range []string{adminToken, ""} {
		_, err := client.New(e.srv.URL, tok, nil).ThreadSealed(ctx, []string{id})
		if err == nil || !strings.Contains(err.Error(), "gateway token") {
			t.Errorf("token %q: %v, want refused", tok, err)
		}
		if err := client.New(e.srv.URL, tok, nil).RememberThread(ctx, []string{"x@y"}, 0); err == nil {
			t.Errorf("token %q could record a thread", tok)
		}
	}

	// Bounds.
	many := make([]string, keyserver.MaxThreadIDs+1)
	for i := range many {
		many[i] = fmt.Sprintf("m%d@x", i)
	}
	if _, err := gw.ThreadSealed(ctx, many); err == nil || !strings.Contains(err.Error(), "At most 100 Message-IDs") {
		t.Errorf("%d ids: %v, want bad_request", len(many), err)
	}
	if err := gw.RememberThread(ctx, []string{strings.Repeat("a", 999) + "@x"}, 0); err == nil || !strings.Contains(err.Error(), "400 bad_request") {
		t.Errorf("a 1001-byte id: %v, want bad_request", err)
	}

	// A keyed hash only: the id is nowhere in the database file.
	e.store.Close()
	db, err := os.ReadFile(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte("secret-thread-marker")) {
		t.Error("the database holds a Message-ID in clear")
	}
}

// TestThreadRetention: an id is remembered for its retention and swept after.
func TestThreadRetention(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	gw := client.New(e.srv.URL, gatewayToken, nil)
	if err := gw.RememberThread(ctx, []string{"short@x"}, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := gw.RememberThread(ctx, []string{"default@x"}, 0); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(47 * time.Hour)
	if ok, _ := gw.ThreadSealed(ctx, []string{"short@x"}); !ok {
		t.Error("forgotten before its retention")
	}
	e.clock.Add(2 * time.Hour)
	if _, err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := gw.ThreadSealed(ctx, []string{"short@x"}); ok {
		t.Error("remembered after its retention")
	}
	if ok, _ := e.svc.ThreadSealed(ctx, keyserver.Caller{}, []string{"default@x"}); !ok {
		t.Error("the default retention (400 days) ended after 2 days")
	}
	e.clock.Add(keyserver.DefaultThreadTTL)
	if ok, _ := e.svc.ThreadSealed(ctx, keyserver.Caller{}, []string{"default@x"}); ok {
		t.Error("remembered beyond 400 days")
	}
}
