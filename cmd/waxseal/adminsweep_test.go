package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/boltstore"
	"github.com/waxseal/waxseal/keyserver/httpapi"
)

const sweepAdminToken = "admin-token-for-sweep-tests-0123456789"

// startSweepKeyServer is a key server holding due envelopes past their expiry
// and one that is not.
func startSweepKeyServer(t *testing.T, due int) (*httptest.Server, keyserver.Store) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "waxseal.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var master [32]byte
	copy(master[:], "master key for tests only 012345")
	svc, err := keyserver.New(keyserver.Config{PublicURL: "http://localhost:8080", MasterKey: master,
		OrgDomains: []string{"hospital.example"}, AdminTokens: []string{keyserver.HashToken(sweepAdminToken)},
		Logger: slog.New(slog.DiscardHandler)}, st)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var envs []keyserver.NewEnvelope
	for i := range due + 1 {
		r := keyserver.EnvelopeRecord{ID: envelope.NewID(), Sender: "alice@hospital.example", Recipient: "bob@patient.example",
			Subject: "Results", Created: now.Add(-48 * time.Hour), Expires: now.Add(-time.Hour), WrappedKey: make([]byte, 48), KeyCheck: make([]byte, 32)}
		if i == due {
			r.Expires = now.Add(time.Hour) // not due
		}
		rand.Read(r.WrappedKey)
		rand.Read(r.KeyCheck)
		envs = append(envs, keyserver.NewEnvelope{Record: r})
	}
	if err := st.PutEnvelopes(context.Background(), envs, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(svc))
	t.Cleanup(srv.Close)
	return srv, st
}

// expiredBy counts the envelopes whose key is destroyed and the audit records
// of a sweep by hand.
func expiredBy(t *testing.T, st keyserver.Store) (keys, records int) {
	t.Helper()
	recs, err := st.ListEnvelopes(context.Background(), keyserver.EnvelopeQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if len(r.WrappedKey) == 0 && !r.Expired.IsZero() {
			keys++
		}
	}
	err = st.Audit(context.Background(), 1, func(r keyserver.AuditRecord) (bool, error) {
		if r.Action == keyserver.ActionEnvelopeExpire && r.Actor == "admin" && strings.Contains(r.Detail, "by hand") {
			records++
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys, records
}

// TestAdminSweepJSONLines: not on a terminal, `admin sweep` prints a JSON line
// when it has counted, after each page and at the end, and nothing on stderr;
// the due envelopes' keys are destroyed, each with its audit record, and the
// one not due is kept. Run again, it finds nothing.
func TestAdminSweepJSONLines(t *testing.T) {
	srv, st := startSweepKeyServer(t, 5)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"admin", "--keyserver", srv.URL, "--token", sweepAdminToken, "sweep", "--page", "2"},
		nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := `{"due":5,"expired":0,"done":false}
{"due":5,"expired":2,"done":false}
{"due":5,"expired":4,"done":false}
{"due":5,"expired":5,"done":true}
`
	if stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("stdout:\n%s\nwant:\n%s\nstderr: %q", stdout.String(), want, stderr.String())
	}
	if keys, records := expiredBy(t, st); keys != 5 || records != 5 {
		t.Errorf("%d keys destroyed, %d audit records; want 5 and 5", keys, records)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"admin", "--keyserver", srv.URL, "--token", sweepAdminToken, "sweep"},
		nil, &stdout, &stderr); code != 0 {
		t.Fatalf("second sweep: exit %d: %s", code, stderr.String())
	}
	if want := "{\"due\":0,\"expired\":0,\"done\":false}\n{\"due\":0,\"expired\":0,\"done\":true}\n"; stdout.String() != want {
		t.Errorf("second sweep:\n%s", stdout.String())
	}
	// A bad page size is a usage error, before anything is asked.
	if code := run(context.Background(), []string{"admin", "--keyserver", srv.URL, "--token", sweepAdminToken, "sweep", "--page", "0"},
		nil, io.Discard, &stderr); code == 0 {
		t.Error("--page 0 accepted")
	}
}
