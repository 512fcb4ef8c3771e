package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/client"
)

// buildBinary builds waxseal once per test run, so these tests run the real
// program: its flags, its files, its process.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "waxseal-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "waxseal")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// installation is a directory made by `waxseal init`, and the server running on it.
type installation struct {
	t              *testing.T
	bin, dir, cfg  string
	base           string // http://127.0.0.1:PORT, where requests go
	public         string // http://localhost:PORT, the configured public URL
	gateway, admin string
	proc           *exec.Cmd
	exited         <-chan struct{} // closed once proc has exited
	stderr         *procOutput
}

func initInstallation(t *testing.T) *installation {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	in := &installation{t: t, bin: bin, dir: t.TempDir(),
		base: fmt.Sprintf("http://127.0.0.1:%d", port), public: fmt.Sprintf("http://localhost:%d", port)}
	out, err := exec.Command(bin, "init", "--dir", in.dir, "--public-url", in.public, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--org-domain", "hospital.example", "--admin", "root@hospital.example").Output()
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if !regexp.MustCompile(`(?m)^admin_enrolment: http://localhost:\d+/admin/enrol#t=[A-Za-z0-9_-]{43}$`).Match(out) {
		t.Fatalf("init --admin printed no enrolment link:\n%s", out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "gateway_token: "); ok {
			in.gateway = v
		}
		if v, ok := strings.CutPrefix(line, "admin_token: "); ok {
			in.admin = v
		}
		if v, ok := strings.CutPrefix(line, "config: "); ok {
			in.cfg = v
		}
	}
	if in.gateway == "" || in.admin == "" || in.cfg == "" {
		t.Fatalf("init printed:\n%s", out)
	}
	st, err := os.Stat(filepath.Join(in.dir, "master.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v %v", st.Mode(), err)
	}
	return in
}

func (in *installation) start() {
	in.t.Helper()
	stdout := newProcOutput()
	in.stderr = newProcOutput()
	proc := exec.Command(in.bin, "keyserver", "--config", in.cfg)
	proc.Stdout, proc.Stderr = stdout, in.stderr
	if err := proc.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.proc = proc
	exited := make(chan struct{})
	go func() { proc.Wait(); stdout.end(); in.stderr.end(); close(exited) }()
	in.exited = exited
	in.t.Cleanup(func() { proc.Process.Kill(); <-exited })
	if !stdout.wait("keyserver listening on", 1) {
		in.t.Fatalf("key server did not come up:\n%s", in.stderr)
	}
}

func (in *installation) stop(sig syscall.Signal) {
	in.proc.Process.Signal(sig)
	<-in.exited
}

// recipient is a browser-like client of the recipient API.
type recipient struct {
	in     *installation
	cookie string
}

func (r *recipient) call(method, path string, body any) (int, map[string]any) {
	r.in.t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, r.in.base+path, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.CSRFHeader, "1")
	req.Header.Set("Origin", r.in.public)
	if r.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "waxseal", Value: r.cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.in.t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "waxseal" {
			r.cookie = c.Value
		}
	}
	out := map[string]any{}
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

var mailCode = regexp.MustCompile(`code: (\d{6})`)

// waitForCode reads the dev mail sink, as a developer would, until a code arrives.
func (in *installation) waitForCode(to string) string {
	in.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(in.dir, "mail", "*"+to+"*.eml"))
		if len(files) > 0 {
			b, _ := os.ReadFile(files[len(files)-1])
			if m := mailCode.FindSubmatch(b); m != nil {
				return string(m[1])
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.t.Fatalf("no code mailed to %s", to)
	return ""
}

// signUp registers the recipient of envelope id with a password.
func (in *installation) signUp(id string, to string) *recipient {
	in.t.Helper()
	r := &recipient{in: in}
	if st, out := r.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Bob", "last_name": "Patient"}); st != 202 {
		in.t.Fatalf("register/start: %d %v", st, out)
	}
	code := in.waitForCode(to)
	if st, out := r.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": code}); st != 200 {
		in.t.Fatalf("register/verify: %d %v", st, out)
	}
	if st, out := r.call("POST", "/api/v1/account/password", map[string]string{"password": "correct horse battery"}); st != 204 {
		in.t.Fatalf("password: %d %v", st, out)
	}
	return r
}

// TestAcknowledgedRegistrationsSurviveKill9 registers envelopes from 8 clients,
// kills the key server with SIGKILL in the middle, restarts it, and releases every
// envelope whose registration had been acknowledged.
func TestAcknowledgedRegistrationsSurviveKill9(t *testing.T) {
	in := initInstallation(t)
	in.start()

	type acked struct {
		id  string
		key envelope.Key
	}
	var mu sync.Mutex
	var ack []acked
	var attempts int
	enough := make(chan struct{}) // closed at the 400th acknowledgement
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	gw := client.New(in.base, in.gateway, &http.Client{Timeout: 5 * time.Second})
	p, _ := envelope.EncryptPayload([]byte("crash test"))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				en, keys, err := p.Seal(envelope.Header{KeyServer: in.public, From: "alice@hospital.example", To: "bob@patient.example"})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				attempts++
				mu.Unlock()
				if err := gw.RegisterEnvelopes(ctx, []client.Registration{{Envelope: en, ServerKey: keys.Server}}); err != nil {
					continue // not acknowledged: may or may not have been stored
				}
				mu.Lock()
				ack = append(ack, acked{en.Header.ID.String(), keys.Server})
				if len(ack) == 400 {
					close(enough)
				}
				mu.Unlock()
			}
		}()
	}
	// Kill once a good number are in, while the clients are still writing. A
	// request in flight then fails, or is cancelled here: either way it is not
	// acknowledged, and only acknowledged ones must survive.
	<-enough
	in.stop(syscall.SIGKILL)
	cancel()
	wg.Wait()
	mu.Lock()
	acknowledged := append([]acked(nil), ack...)
	mu.Unlock()

	in.start()
	r := in.signUp(acknowledged[0].id, "bob@patient.example")
	releasable := 0
	for _, a := range acknowledged {
		st, out := r.call("POST", "/api/v1/envelopes/"+a.id+"/key", nil)
		if st != 200 {
			t.Errorf("acknowledged envelope %s after kill -9: %d %v", a.id, st, out)
			continue
		}
		if out["server_key"] != envelope.EncodeKey(a.key) {
			t.Errorf("envelope %s released a different key", a.id)
			continue
		}
		releasable++
	}
	t.Logf("kill -9 during registration: %d attempted, %d acknowledged, %d releasable after restart", attempts, len(acknowledged), releasable)
	if releasable != len(acknowledged) {
		t.Fatalf("%d of %d acknowledged envelopes lost", len(acknowledged)-releasable, len(acknowledged))
	}
	// The audit chain survived the crash too.
	out, err := exec.Command(in.bin, "admin", "--keyserver", in.base, "--token", in.admin, "audit", "verify").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"ok":true`) {
		t.Fatalf("audit verify after crash: %v\n%s", err, out)
	}
}

// TestTamperedAuditLogFailsVerification edits and deletes audit records in the
// database file of a stopped server and in an export, and checks that
// `waxseal admin audit verify` catches each.
func TestTamperedAuditLogFailsVerification(t *testing.T) {
	in := initInstallation(t)
	in.start()
	p, _ := envelope.EncryptPayload([]byte("m"))
	gw := client.New(in.base, in.gateway, nil)
	var ids []string
	for range 5 {
		en, keys, _ := p.Seal(envelope.Header{KeyServer: in.public, From: "alice@hospital.example", To: "bob@patient.example"})
		if err := gw.RegisterEnvelopes(t.Context(), []client.Registration{{Envelope: en, ServerKey: keys.Server}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, en.Header.ID.String())
	}
	admin := func(args ...string) (string, error) {
		out, err := exec.Command(in.bin, append([]string{"admin", "--keyserver", in.base, "--token", in.admin}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := admin("revoke", ids[1]); err != nil {
		t.Fatalf("revoke: %v %s", err, out)
	}
	export := filepath.Join(in.dir, "audit.jsonl")
	out, err := admin("audit", "export")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(export, []byte(out), 0o600)
	// Six records and, first, the invite `waxseal init` made for an administrator.
	if out, err := admin("audit", "verify", "--file", export); err != nil || !strings.Contains(out, `"records":7`) {
		t.Fatalf("intact export: %v %s", err, out)
	}
	in.stop(syscall.SIGTERM)

	if out, err := admin("audit", "verify", "--config", in.cfg); err != nil || !strings.Contains(out, `"ok":true`) {
		t.Fatalf("intact database: %v %s", err, out)
	}

	// An export with one record edited (the revoke made to look like a lock).
	lines := strings.SplitAfter(strings.TrimSpace(string(mustRead(t, export))), "\n")
	edited := strings.Replace(strings.Join(lines, ""), `"action":"envelope.revoke"`, `"action":"envelope.lock"`, 1)
	os.WriteFile(export+".edited", []byte(edited), 0o600)
	if out, err := admin("audit", "verify", "--file", export+".edited"); err == nil || !strings.Contains(out, "record 7: hash mismatch: the record was edited") {
		t.Fatalf("edited export: %v %s", err, out)
	}
	os.WriteFile(export+".deleted", []byte(lines[0]+strings.Join(lines[2:], "")), 0o600)
	if out, err := admin("audit", "verify", "--file", export+".deleted"); err == nil || !strings.Contains(out, "a record was deleted or inserted") {
		t.Fatalf("export with a deleted record: %v %s", err, out)
	}

	// The database itself: edit record 3's actor, then (on a copy) delete record 2.
	db := filepath.Join(in.dir, "data", "waxseal.db")
	copyDB := db + ".copy"
	os.WriteFile(copyDB, mustRead(t, db), 0o600)
	tamper(t, db, func(b *bolt.Bucket) error {
		k := seqKey(3)
		return b.Put(k, bytes.Replace(b.Get(k), []byte(`"actor":"gateway"`), []byte(`"actor":"admin"`), 1))
	})
	if out, err := admin("audit", "verify", "--config", in.cfg); err == nil || !strings.Contains(out, "record 3: hash mismatch") {
		t.Fatalf("edited database record: %v %s", err, out)
	}
	os.Rename(copyDB, db)
	tamper(t, db, func(b *bolt.Bucket) error { return b.Delete(seqKey(2)) })
	if out, err := admin("audit", "verify", "--config", in.cfg); err == nil || !strings.Contains(out, "expected record 2") {
		t.Fatalf("deleted database record: %v %s", err, out)
	}
}

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func tamper(t *testing.T, path string, fn func(*bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket([]byte("audit"))) }); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInitAdminInvite: `waxseal init` prints an enrolment link only for an
// address it is given, and only one at the organisation's own domains (an
// invite that names no address, or an outside one, could claim a patient's).
func TestInitAdminInvite(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := exec.Command(bin, "init", "--dir", filepath.Join(dir, "a"), "--public-url", "http://localhost:8080", "--org-domain", "hospital.example").CombinedOutput()
	if err != nil || strings.Contains(string(out), "admin_enrolment") {
		t.Fatalf("init without --admin: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "init", "--dir", filepath.Join(dir, "b"), "--public-url", "http://localhost:8080", "--org-domain", "hospital.example", "--admin", "bob@patient.example").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "organisation's own domains (hospital.example); bob@patient.example is not one") {
		t.Fatalf("init --admin with an outside address: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "b", "waxseal.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused init left a configuration behind: %v", err)
	}
}
