//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the program writes to tty, as to a person's
// terminal, and the test reads what appeared from ptm.
func openPTY(t *testing.T) (ptm, tty *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ptm, tty
}

// TestAdminSweepProgressOnTerminal: on a terminal, `admin sweep` shows its
// progress on one rewritten line and ends with a sentence, no JSON.
func TestAdminSweepProgressOnTerminal(t *testing.T) {
	srv, st := startSweepKeyServer(t, 5)
	ptm, tty := openPTY(t)
	defer ptm.Close()
	got := make(chan []byte)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, ptm) // ends (EIO) once the terminal side is closed
		got <- b.Bytes()
	}()
	code := run(context.Background(), []string{"admin", "--keyserver", srv.URL, "--token", sweepAdminToken, "sweep", "--page", "2"},
		nil, tty, tty)
	tty.Close()
	out := strings.ReplaceAll(string(<-got), "\r\n", "\n") // the terminal's own line ends
	if code != 0 {
		t.Fatalf("exit %d: %q", code, out)
	}
	want := "\rexpiring: 2 of 5\rexpiring: 4 of 5\rexpiring: 5 of 5\nexpired 5 envelopes (5 were due)\n"
	if out != want {
		t.Errorf("terminal showed %q, want %q", out, want)
	}
	if keys, records := expiredBy(t, st); keys != 5 || records != 5 {
		t.Errorf("%d keys destroyed, %d audit records; want 5 and 5", keys, records)
	}
}
