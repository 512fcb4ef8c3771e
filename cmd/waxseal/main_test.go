package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/internal/testmsg"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"waxseal": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scenarios in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sealed":   cmdSealed,
			"tamper":   cmdTamper,
			"freeport": cmdFreePort,
			"waitfor":  cmdWaitFor,
			"linevars": cmdLineVars,
		},
	})
}

// cmdSealed reads seal's JSON lines from a file and sets ID<n>, FILE<n>, KEY<n> and
// RCPT<n> for each, so scripts can open what they sealed: sealed FILE.
func cmdSealed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sealed RESULTFILE")
	}
	sc := bufio.NewScanner(strings.NewReader(ts.ReadFile(args[0])))
	n := 0
	for ; sc.Scan(); n++ {
		var r sealResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			ts.Fatalf("line %d: %v", n+1, err)
		}
		if r.ID == "" || r.File == "" || r.Recipient == "" {
			ts.Fatalf("line %d lacks a field: %s", n+1, sc.Text())
		}
		ts.Setenv(fmt.Sprint("ID", n), r.ID)
		ts.Setenv(fmt.Sprint("FILE", n), r.File)
		ts.Setenv(fmt.Sprint("KEY", n), r.ServerKey)
		ts.Setenv(fmt.Sprint("RCPT", n), r.Recipient)
	}
	ts.Setenv("SEALED", fmt.Sprint(n))
}

// cmdFreePort sets VAR to a free TCP port on 127.0.0.1: freeport VAR.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Setenv(args[0], fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	ln.Close()
}

// cmdWaitFor waits until URL answers 200: waitfor URL.
func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfor URL")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(args[0]); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s did not answer in 10s", args[0])
}

// cmdLineVars sets a variable for each "name: value" line of stdout (or a file):
// linevars stdout.
func cmdLineVars(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: linevars stdout|FILE")
	}
	text := ts.ReadFile(args[0])
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.ContainsAny(k, " \t") {
			ts.Setenv(k, v)
		}
	}
}

// cmdTamper writes a damaged copy of an envelope, the way an attacker would edit
// one: tamper header|payload|version SRC DST.
func cmdTamper(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: tamper header|payload|version SRC DST")
	}
	data := []byte(ts.ReadFile(args[1]))
	f, err := envelope.ParseHTML(data)
	ts.Check(err)
	switch args[0] {
	case "header":
		f.HeaderJSON = bytes.Replace(f.HeaderJSON, []byte(`"bob@`), []byte(`"rob@`), 1)
	case "payload":
		f.Ciphertext[len(f.Ciphertext)/2] ^= 0x01
	case "version":
		data = bytes.Replace(data, []byte(`name="version" value="1"`), []byte(`name="version" value="2"`), 1)
		ts.Check(os.WriteFile(ts.MkAbs(args[2]), data, 0o644))
		return
	default:
		ts.Fatalf("tamper: unknown part %q", args[0])
	}
	var out bytes.Buffer
	ts.Check(f.WriteHTML(&out, f.EnvKey, bytes.NewReader(f.Ciphertext)))
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), out.Bytes(), 0o644))
}

// TestCLIRoundTrip seals every test message through the command and opens each
// envelope back to the exact original bytes.
func TestCLIRoundTrip(t *testing.T) {
	for _, m := range testmsg.All() {
		t.Run(m.Name, func(t *testing.T) {
			dir := t.TempDir()
			var out, errOut bytes.Buffer
			code := run(t.Context(), []string{"seal", "--offline", "--keyserver", "https://keys.example.org",
				"--from", "alice@hospital.example", "--to", "bob@patient.example", "--to", "carol@clinic.example",
				"--out", dir}, bytes.NewReader(m.Bytes), &out, &errOut)
			if code != 0 {
				t.Fatalf("seal: exit %d: %s", code, errOut.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("seal printed %d lines, want one per recipient:\n%s", len(lines), out.String())
			}
			for _, line := range lines {
				var r sealResult
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatal(err)
				}
				var msg, stderr bytes.Buffer
				if code := run(t.Context(), []string{"open", "--server-key", r.ServerKey, r.File}, nil, &msg, &stderr); code != 0 {
					t.Fatalf("open %s: exit %d: %s", r.Recipient, code, stderr.String())
				}
				if !bytes.Equal(msg.Bytes(), m.Bytes) {
					t.Fatalf("open %s: %d bytes differ from the %d sealed", r.Recipient, msg.Len(), len(m.Bytes))
				}
			}
			// Only the envelopes are left behind: no payload or partial files.
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if filepath.Ext(e.Name()) != ".html" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}
