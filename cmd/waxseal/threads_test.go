package main

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestStickyThreadOverSMTP: a triggered message is sealed for its external
// recipient; a reply to it without any trigger (In-Reply-To, or References
// naming the wrapper mail the recipient got) is sealed too, through the same
// gateway, after that gateway and the key server were killed with SIGKILL and
// restarted, and through a second gateway process sharing the key server. A
// reply in a thread nobody sealed goes out as it is.
func TestStickyThreadOverSMTP(t *testing.T) {
	in := initInstallation(t)
	in.start()
	hopAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hop := startSinkHop(t, hopAddr)
	gwA := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	gwB := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	base := string(mustRead(t, in.cfg))
	write := func(path, listen, spool string) {
		cfg := base
		for old, repl := range map[string]string{
			`listen = ["127.0.0.1:10025"]`:    `listen = ["` + listen + `"]`,
			`port = 10026`:                    `port = ` + strings.Split(hopAddr, ":")[1],
			`spool_dir = "spool"`:             `spool_dir = "` + spool + `"`,
			`# url = "http://127.0.0.1:8080"`: `url = "` + in.base + `"`,
		} {
			if !strings.Contains(cfg, old) {
				t.Fatalf("the config init wrote has no %q", old)
			}
			cfg = strings.Replace(cfg, old, repl, 1)
		}
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgB := strings.TrimSuffix(in.cfg, ".toml") + "-b.toml"
	write(in.cfg, gwA, "spool")
	write(cfgB, gwB, "spool-b")
	a, aOut := startGatewayProcess(t, in.bin, in.cfg, gwA)

	n := 0
	send := func(gw, subject, header, secret string) []byte {
		t.Helper()
		n++
		msg := fmt.Sprintf("From: Alice <alice@hospital.example>\r\nTo: bob@patient.example\r\nSubject: %s\r\nMessage-ID: <m%d@hospital.example>\r\n%s\r\n%s\r\n",
			subject, n, header, secret)
		c, err := smtp.Dial(gw)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SendMail("alice@hospital.example", []string{"bob@patient.example"}, strings.NewReader(msg)); err != nil {
			t.Fatalf("submit %q: %v", subject, err)
		}
		got := hop.to("bob@patient.example")
		if len(got) != n {
			t.Fatalf("bob has %d messages, want %d", len(got), n)
		}
		return got[n-1]
	}
	sealed := func(what string, m []byte, secret string) {
		t.Helper()
		if bytes.Contains(m, []byte(secret)) || !bytes.Contains(m, []byte("securedoc_")) {
			t.Fatalf("%s: not sealed:\n%.600s", what, m)
		}
	}

	first := send(gwA, "PHI: your results", "", "secret-first")
	sealed("triggered message", first, "secret-first")
	wrapperMsg, err := mail.ReadMessage(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	wrapperID := wrapperMsg.Header.Get("Message-ID")
	if !strings.HasPrefix(wrapperID, "<ws1.") {
		t.Errorf("wrapper Message-ID %q is not a recognisable one", wrapperID)
	}

	sealed("reply with In-Reply-To", send(gwA, "Re: your results", "In-Reply-To: <m1@hospital.example>\r\n", "secret-reply"), "secret-reply")
	plain := send(gwA, "Re: lunch", "In-Reply-To: <elsewhere@hospital.example>\r\n", "not-secret")
	if !bytes.Contains(plain, []byte("not-secret")) {
		t.Fatal("a reply in an unsealed thread was sealed")
	}

	// Both processes die without a chance to flush anything.
	a.Process.Signal(syscall.SIGKILL)
	aOut.ended() // reaped by startGatewayProcess's own Wait
	in.stop(syscall.SIGKILL)
	in.start()
	startGatewayProcess(t, in.bin, in.cfg, gwA)
	sealed("reply after kill -9", send(gwA, "Re: Re: your results", "In-Reply-To: <m2@hospital.example>\r\nReferences: <m1@hospital.example> <m2@hospital.example>\r\n", "secret-after-kill"), "secret-after-kill")
	// The recipient answered the wrapper mail by ordinary mail; staff answer that.
	sealed("answer to the wrapper's thread", send(gwA, "Re: Re: results", "In-Reply-To: <bob-1@patient.example>\r\nReferences: "+wrapperID+" <bob-1@patient.example>\r\n", "secret-wrapper"), "secret-wrapper")

	startGatewayProcess(t, in.bin, cfgB, gwB)
	sealed("reply through a second gateway", send(gwB, "Re: your results", "In-Reply-To: <m1@hospital.example>\r\n", "secret-second"), "secret-second")
	plain = send(gwB, "lunch", "", "plain-second")
	if !bytes.Contains(plain, []byte("plain-second")) {
		t.Fatal("an unrelated message was sealed by the second gateway")
	}
	// The help desk's dry run asks the same store.
	out, err := runCLI(t, in.bin, "policy", "--config", cfgB, "--from", "alice@hospital.example", "--to", "bob@patient.example",
		"--subject", "Re: your results", "--in-reply-to", "m1@hospital.example")
	if err != nil || !strings.Contains(out, `"action":"envelope","reason":"external recipient, reply in a secure conversation"`) {
		t.Fatalf("waxseal policy --in-reply-to: %v\n%s", err, out)
	}
	out, err = runCLI(t, in.bin, "policy", "--config", cfgB, "--from", "alice@hospital.example", "--to", "bob@patient.example",
		"--subject", "Re: your results", "--references", "<nothing@hospital.example>")
	if err != nil || !strings.Contains(out, `"action":"plain"`) {
		t.Fatalf("waxseal policy --references unknown: %v\n%s", err, out)
	}
}

func runCLI(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}
