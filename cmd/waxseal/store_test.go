package main

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/boltstore"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/sqlstore"
)

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// initDirFor makes an installation with `waxseal init`, with --store if store
// is not empty, and returns its config path.
func initDirFor(t *testing.T, store string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"init", "--dir", dir, "--public-url", "http://localhost:8080"}
	if store != "" {
		args = append(args, "--store", store)
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("init: %d %s", code, stderr.String())
	}
	return filepath.Join(dir, "waxseal.toml")
}

// fillBolt stores n envelopes (some sharing a ciphertext, one with its payload
// cleared), accounts with passkeys, outbox mail and audit records.
func fillBolt(t *testing.T, cfg string, n int) {
	t.Helper()
	ctx := t.Context()
	fc, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(fc.dbPath(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ct := randBytes(5000)
	sum := sha256.Sum256(ct)
	if err := st.PutCiphertext(ctx, sum, ct, time.Now()); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 3, 9, 30, 15, 123456789, time.FixedZone("IST", 5*3600+30*60))
	var shared []envelope.ID
	for i := 0; i < n; {
		var batch []keyserver.NewEnvelope
		for ; i < n && len(batch) < 500; i++ {
			r := keyserver.EnvelopeRecord{ID: envelope.NewID(), Sender: "doctor@hospital.example",
				Recipient: fmt.Sprintf("patient%d@example.org", i%97), Subject: fmt.Sprintf("Results %d", i),
				Created: base.Add(time.Duration(i) * time.Second), WrappedKey: randBytes(48), KeyCheck: randBytes(32)}
			ne := keyserver.NewEnvelope{Record: r}
			switch {
			case i%100 == 0:
				ne.Record.HasPayload, ne.Record.Ciphertext, ne.Payload = true, sum[:], randBytes(200)
				shared = append(shared, r.ID)
			case i%7 == 0:
				ne.Record.HasPayload, ne.Payload = true, randBytes(300)
			case i%11 == 0:
				ne.Record.Expires = base.Add(30 * 24 * time.Hour)
			}
			batch = append(batch, ne)
		}
		ev := []keyserver.AuditEvent{{Time: base.Add(time.Duration(i)), Actor: "gateway", Action: "envelope.register", Detail: fmt.Sprint(len(batch))}}
		if err := st.PutEnvelopes(ctx, batch, ev); err != nil {
			t.Fatal(err)
		}
	}
	// One shared-ciphertext envelope revoked: its payload and reference go.
	if _, err := st.UpdateEnvelope(ctx, shared[0], func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.HasPayload, r.WrappedKey, r.Revoked = false, nil, base.Add(time.Hour)
		return []keyserver.AuditEvent{{Time: base.Add(time.Hour), Actor: "admin", Action: "envelope.revoke", Envelope: r.ID.String()}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		a := keyserver.Account{ID: hex.EncodeToString(randBytes(16)), Email: fmt.Sprintf("patient%d@example.org", i), Role: keyserver.RoleRecipient,
			Created: base, UserHandle: randBytes(32), Credentials: []keyserver.Credential{{ID: randBytes(16), Name: "phone", PublicKey: randBytes(77), Created: base}}}
		if err := st.CreateAccount(ctx, a, []keyserver.AuditEvent{{Time: base, Actor: a.Email, Action: "account.create", Account: a.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := st.EnqueueMail(ctx, keyserver.OutboxMail{From: "noreply@hospital.example", To: []string{"x@example.org"},
			Message: []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)), Created: base, NextAttempt: base.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteMail(ctx, 2); err != nil { // a gap in the ids
		t.Fatal(err)
	}
	// Secure replies, one waiting for the gateway and one delivered, and the
	// thread hashes of sticky threads.
	for i, delivered := range []time.Time{{}, base.Add(2 * time.Hour)} {
		r := keyserver.StoredReply{ID: hex.EncodeToString(randBytes(16)), Envelope: shared[1], Account: "acct", From: "patient0@example.org",
			Kind: "reply", Created: base.Add(time.Duration(i) * time.Minute), Size: 100, Sealed: randBytes(100), Delivered: delivered}
		if !delivered.IsZero() {
			r.Sealed = nil
		}
		if err := st.PutReply(ctx, r, []keyserver.AuditEvent{{Time: r.Created, Actor: r.From, Action: "reply.store", Envelope: r.Envelope.String()}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutThreadHashes(ctx, [][]byte{randBytes(32), randBytes(32), randBytes(32)}, base.Add(90*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func testStoreCopy(t *testing.T, to string) {
	from := initDirFor(t, "")
	fillBolt(t, from, 10_000)
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"store", "copy", "--from", from, "--to", to}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("store copy: %d %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "copied: 10000 envelopes, 1 shared ciphertexts, 3 accounts, 4 outbox mails, 2 replies, 3 thread hashes") {
		t.Errorf("store copy printed %q", stdout.String())
	}
	if !strings.Contains(stderr.String(), "envelopes: 10000/10000") {
		t.Errorf("no progress on stderr: %q", stderr.String())
	}

	// Read both back through the Store interface, independently of the copy's
	// own verification.
	ctx := t.Context()
	fromCfg, _ := loadConfig(from)
	toCfg, _ := loadConfig(to)
	src, err := openStore(ctx, fromCfg, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := openStore(ctx, toCfg, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	srcEnvs, _ := src.ListEnvelopes(ctx, keyserver.EnvelopeQuery{})
	dstEnvs, err := dst.ListEnvelopes(ctx, keyserver.EnvelopeQuery{})
	if err != nil || len(dstEnvs) != len(srcEnvs) || !sameJSON(dstEnvs, srcEnvs) {
		t.Fatalf("envelopes differ after the copy (%d vs %d, %v)", len(dstEnvs), len(srcEnvs), err)
	}
	for _, r := range srcEnvs {
		a, errA := src.Payload(ctx, r.ID)
		b, errB := dst.Payload(ctx, r.ID)
		if !bytes.Equal(a, b) || (errA == nil) != (errB == nil) {
			t.Fatalf("payload %s differs: %v %v", r.ID, errA, errB)
		}
	}
	for _, r := range srcEnvs {
		a, errA := src.RepliesOf(ctx, r.ID)
		b, errB := dst.RepliesOf(ctx, r.ID)
		if errA != nil || errB != nil || !sameJSON(a, b) {
			t.Fatalf("replies of %s differ: %v %v", r.ID, errA, errB)
		}
	}
	var hashes [][]byte
	src.(keyserver.ThreadHashLister).ThreadHashes(ctx, func(h []byte, _ time.Time) error { hashes = append(hashes, h); return nil })
	for _, h := range hashes {
		if known, err := dst.ThreadHashKnown(ctx, [][]byte{h}, time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)); err != nil || !known {
			t.Fatalf("thread hash %x not copied: %v", h, err)
		}
	}
	nSrc, headSrc, err := keyserver.VerifyAudit(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	nDst, headDst, err := keyserver.VerifyAudit(ctx, dst)
	if err != nil || nDst != nSrc || headDst != headSrc {
		t.Fatalf("audit chain: %d %s %v, source %d %s", nDst, headDst, err, nSrc, headSrc)
	}
	accts, _ := src.ListAccounts(ctx)
	for _, a := range accts {
		got, err := dst.AccountByCredential(ctx, a.Credentials[0].ID)
		if err != nil || got.ID != a.ID {
			t.Errorf("passkey of %s: %v", a.Email, err)
		}
	}
	// The copy carries on where the source left off: new mail after the
	// copied ids, new audit records on the same chain.
	id, err := dst.EnqueueMail(ctx, keyserver.OutboxMail{To: []string{"y@example.org"}, NextAttempt: time.Now()})
	if err != nil || id != 6 {
		t.Errorf("next outbox id %d (%v), want 6", id, err)
	}
	if err := dst.AppendAudit(ctx, []keyserver.AuditEvent{{Time: time.Now(), Actor: "system", Action: "copy.test"}}); err != nil {
		t.Fatal(err)
	}
	if n, _, err := keyserver.VerifyAudit(ctx, dst); err != nil || n != nSrc+1 {
		t.Errorf("audit after the copy: %d records, %v", n, err)
	}

	// A second copy into the now non-empty store is refused.
	src.Close()
	dst.Close()
	stderr.Reset()
	if code := run(ctx, []string{"store", "copy", "--from", from, "--to", to}, nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "not empty") {
		t.Errorf("copy into a non-empty store: exit %d, %s", code, stderr.String())
	}
}

func TestStoreCopyBoltToSQLite(t *testing.T) {
	testStoreCopy(t, initDirFor(t, "sqlite"))
}

func TestStoreCopyBoltToPostgres(t *testing.T) {
	dsn := os.Getenv("WAXSEAL_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("WAXSEAL_TEST_POSTGRES is not set in CI: run the tests through `make test`")
		}
		t.Skip("WAXSEAL_TEST_POSTGRES not set: skipping PostgreSQL (`make test` starts a throwaway cluster)")
	}
	testStoreCopy(t, initDirFor(t, pgSchema(t, dsn)))
}

// pgSchema creates an empty schema and returns a DSN using it.
func pgSchema(t *testing.T, dsn string) string {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := "copy_" + hex.EncodeToString(randBytes(8))
	if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + name + " CASCADE") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestStoreConfig(t *testing.T) {
	// As init --store postgres://… writes it (init then creates the schema,
	// which needs a server: TestStoreCopyBoltToPostgres runs that part).
	cfg := initDirFor(t, "")
	sc, dsn, err := parseStoreFlag("postgres://waxseal:s3cret@db.example:5432/waxseal")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeStoreSection(cfg, sc, dsn); err != nil {
		t.Fatal(err)
	}
	fc, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(cfg)
	if bytes.Contains(data, []byte("s3cret")) {
		t.Error("the DSN's password is in waxseal.toml; it belongs in store.dsn")
	}
	fi, err := os.Stat(filepath.Join(filepath.Dir(cfg), "store.dsn"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("store.dsn: %v %v", fi, err)
	}
	tgt, err := fc.storeTarget()
	if err != nil || tgt.driver != "postgres" || tgt.dsn != "postgres://waxseal:s3cret@db.example:5432/waxseal" {
		t.Fatalf("storeTarget: %+v %v", tgt, err)
	}
	if got := redactedTarget(tgt); strings.Contains(got, "s3cret") {
		t.Errorf("redactedTarget shows the password: %s", got)
	}
	t.Setenv(storeEnvDSN, "postgres://other@db2.example/waxseal")
	if tgt, _ := fc.storeTarget(); tgt.dsn != "postgres://other@db2.example/waxseal" {
		t.Errorf("%s did not override dsn_file: %s", storeEnvDSN, tgt.dsn)
	}
	if err := sqlstore.Redact(fmt.Errorf("connect postgres://waxseal:s3cret@db.example/x failed")); strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Redact: %v", err)
	}
}

// TestAdminBackupHot takes a backup of a running key server, registering
// envelopes meanwhile, and checks the file: it opens, its audit chain verifies,
// and it holds every envelope acknowledged before the backup began.
func TestAdminBackupHot(t *testing.T) {
	in := initInstallation(t)
	in.start()
	ctx := t.Context()
	gw := client.New(in.base, in.gateway, nil)
	p, _ := envelope.EncryptPayload([]byte("backup test"))
	register := func() string {
		en, keys, err := p.Seal(envelope.Header{KeyServer: in.public, From: "alice@hospital.example", To: "bob@patient.example"})
		if err != nil {
			t.Fatal(err)
		}
		if err := gw.RegisterEnvelopes(ctx, []client.Registration{{Envelope: en, ServerKey: keys.Server}}); err != nil {
			t.Fatal(err)
		}
		return en.Header.ID.String()
	}
	var before []string
	for range 20 {
		before = append(before, register())
	}
	// Writes go on while the backup streams.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			register()
		}
	}()
	file := filepath.Join(t.TempDir(), "backup.db")
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"admin", "--keyserver", in.base, "--token", in.admin, "backup", file}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("admin backup: %d %s", code, stderr.String())
	}
	<-done
	if !strings.Contains(stdout.String(), `"audit_head"`) {
		t.Errorf("admin backup printed %q", stdout.String())
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	st, err := boltstore.Open(file, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range before {
		eid, _ := envelope.ParseID(id)
		if _, err := st.Envelope(ctx, eid); err != nil {
			t.Errorf("envelope %s acknowledged before the backup is missing from it: %v", id, err)
		}
	}
	if _, _, err := keyserver.VerifyAudit(ctx, st); err != nil {
		t.Error(err)
	}
	// An existing file is never overwritten.
	stderr.Reset()
	if code := run(ctx, []string{"admin", "--keyserver", in.base, "--token", in.admin, "backup", file}, nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "exists") {
		t.Errorf("backup over an existing file: %d %s", code, stderr.String())
	}
	// Only an administrator may take one.
	stderr.Reset()
	if code := run(ctx, []string{"admin", "--keyserver", in.base, "--token", in.gateway, "backup", file + "2"}, nil, &stdout, &stderr); code != 1 {
		t.Errorf("backup with the gateway token: %d %s", code, stderr.String())
	}
	if _, err := os.Stat(file + "2.partial"); !os.IsNotExist(err) {
		t.Errorf("a refused backup left %s.partial: %v", file+"2", err)
	}
}

// TestNodeSettings: on PostgreSQL a node is named after its host unless named,
// and the posted hold is off unless node_hold; elsewhere nothing changes.
func TestNodeSettings(t *testing.T) {
	host, _ := os.Hostname()
	for _, tc := range []struct {
		store    *storeConfig
		holdMB   int64
		wantNode string
		wantHold int64
	}{
		{nil, 64, "", 64 << 20},
		{&storeConfig{Driver: "sqlite"}, 64, "", 64 << 20},
		{&storeConfig{Driver: "postgres"}, 64, host, -1},
		{&storeConfig{Driver: "postgres", Node: "keys-2", NodeHold: true}, 64, "keys-2", 64 << 20},
		{&storeConfig{Driver: "postgres", NodeHold: true}, -1, host, -1 << 20},
	} {
		fc := &fileConfig{Store: tc.store}
		fc.Limits.PostedHoldMB = tc.holdMB
		node, hold := nodeSettings(fc)
		if node != tc.wantNode || hold != tc.wantHold {
			t.Errorf("%+v, posted_hold_mb %d: node %q, hold %d; want %q, %d", tc.store, tc.holdMB, node, hold, tc.wantNode, tc.wantHold)
		}
	}
}

// TestMigrateBoltLayout1 upgrades an installation whose bbolt file the version
// 1 layout's build wrote: the key server refuses it with the way out, `waxseal
// migrate` copies it aside and migrates it, and a second run has nothing to do.
func TestMigrateBoltLayout1(t *testing.T) {
	ctx := t.Context()
	cfg := initDirFor(t, "")
	fc, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fc.dbPath(), layout1File(t), 0o600); err != nil {
		t.Fatal(err)
	}

	if _, err := openStore(ctx, fc, false, nil); !errors.Is(err, boltstore.ErrLayoutOld) || !strings.Contains(err.Error(), "run `waxseal migrate`") {
		t.Fatalf("key server's open of a layout 1 file: %v; want ErrLayoutOld naming waxseal migrate", err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"migrate", "--config", cfg}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("migrate: %d %s", code, stderr.String())
	}
	backup := fc.dbPath() + ".before-layout-2"
	if want := fmt.Sprintf("store: bolt %s, layout migrated to version 2 (the file before: %s)\n", fc.dbPath(), backup); stdout.String() != want {
		t.Errorf("migrate printed %q, want %q", stdout.String(), want)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup: %v %v, want mode 0600", fi, err)
	}
	if _, err := boltstore.Open(backup, boltstore.Options{}); !errors.Is(err, boltstore.ErrLayoutOld) {
		t.Errorf("the backup opens as %v; want the layout 1 file refused", err)
	}

	stdout.Reset()
	if code := run(ctx, []string{"migrate", "--config", cfg}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("second migrate: %d %s", code, stderr.String())
	}
	if want := fmt.Sprintf("store: bolt %s, layout version 2 (up to date)\n", fc.dbPath()); stdout.String() != want {
		t.Errorf("second migrate printed %q, want %q", stdout.String(), want)
	}
	st, err := openStore(ctx, fc, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListEnvelopes(ctx, keyserver.EnvelopeQuery{Sender: "clinician2@hospital.example"})
	if err != nil || len(recs) != 24 {
		t.Fatalf("clinician2's envelopes after migrating: %d, %v; want 24", len(recs), err)
	}
	// With a key server holding the file, migrate says what to do.
	stderr.Reset()
	if code := run(ctx, []string{"migrate", "--config", cfg}, nil, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "is a key server running on it?): stop the key server, then migrate") {
		t.Errorf("migrate of a file in use: exit %d, %q", code, stderr.String())
	}
}

// layout1File is keyserver/boltstore/testdata/layout1.db.gz, a bbolt file the
// version 1 layout's build wrote, unzipped.
func layout1File(t *testing.T) []byte {
	t.Helper()
	gz, err := os.ReadFile("../../keyserver/boltstore/testdata/layout1.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestAdminBackupOfLayout1 takes a backup of a key server whose build still has
// the version 1 layout (this binary installed first, the server not yet
// restarted): the backup is kept as that server wrote it, so that it can
// restore from it, and its audit chain is checked on a migrated scratch copy.
func TestAdminBackupOfLayout1(t *testing.T) {
	v1 := layout1File(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/admin/backup" {
			http.NotFound(w, r)
			return
		}
		w.Write(v1)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "backup.db")
	var out bytes.Buffer
	if err := adminBackup(t.Context(), client.New(srv.URL, "token", nil), file, &out); err != nil {
		t.Fatalf("backup of a layout 1 server: %v", err)
	}
	if !strings.Contains(out.String(), `"audit_records":120`) {
		t.Errorf("backup printed %s; want its 120 audit records", out.String())
	}
	got, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(got, v1) {
		t.Errorf("the backup is not the file the server sent (%d bytes of %d, %v)", len(got), len(v1), err)
	}
	if left, _ := filepath.Glob(file + ".*"); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
