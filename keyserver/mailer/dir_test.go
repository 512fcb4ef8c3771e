package mailer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

var dirName = regexp.MustCompile(`^\d{8}T\d{6}\.\d{9}-[a-z0-9@._+-]+\.eml$`)

func TestDirWritesReadableFiles(t *testing.T) {
	d, err := NewDir(filepath.Join(t.TempDir(), "mail"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var want [][]byte
	for i := range 5 {
		msg := fmt.Appendf(nil, "Subject: %d\r\n\r\nYour code is %06d.\r\n", i, i)
		want = append(want, msg)
		if err := d.Send(ctx, "noreply@waxseal.test", []string{fmt.Sprintf("user%d@example.test", i)}, msg); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 5 {
		t.Fatalf("directory holds %q, want 5 .eml files and nothing else", names)
	}
	// ReadDir sorts by name; that order must be the order of sending.
	for i, name := range names {
		if !dirName.MatchString(name) {
			t.Errorf("file name %q does not match %v", name, dirName)
		}
		if wantSuffix := fmt.Sprintf("-user%d@example.test.eml", i); !bytes.HasSuffix([]byte(name), []byte(wantSuffix)) {
			t.Errorf("file %d is %q, want suffix %q (name order must follow send order)", i, name, wantSuffix)
		}
		got, err := os.ReadFile(filepath.Join(d.Path(), name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[i]) {
			t.Errorf("%s holds %q, want %q", name, got, want[i])
		}
		info, err := os.Stat(filepath.Join(d.Path(), name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, perm)
		}
	}
	stamp, err := time.Parse(dirStamp, names[0][:len(dirStamp)])
	if err != nil {
		t.Fatal(err)
	}
	if since := time.Since(stamp); since < 0 || since > time.Minute {
		t.Errorf("file stamp %v is not the current UTC time", stamp)
	}
}

func TestDirStampsUniqueWithCoarseClock(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	frozen := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	d.now = func() time.Time { return frozen }
	for range 3 {
		if err := d.Send(context.Background(), "", []string{"same@example.test"}, testMessage); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(d.Path())
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{
		"20250301T110000.000000000-same@example.test.eml",
		"20250301T110000.000000001-same@example.test.eml",
		"20250301T110000.000000002-same@example.test.eml",
	}
	if !slices.Equal(names, want) {
		t.Errorf("names = %q, want %q (UTC, unique, in order)", names, want)
	}
}

func TestDirSanitizesRecipient(t *testing.T) {
	for in, want := range map[string]string{
		"Alice@Example.TEST":      "alice@example.test",
		"../../etc/passwd":        "____etc_passwd",
		"a/b\\c d@x.test":         "a_b_c_d@x.test",
		"":                        "unknown",
		"..":                      "unknown",
		"bob..smith@x.test":       "bob__smith@x.test",
		"\"quoted name\"@x.test":  "_quoted_name_@x.test",
		"ünïcode@x.test":          "_n_code@x.test",
		string(make([]byte, 100)): "________________________________________________________________",
	} {
		if got := sanitizeAddr(in); got != want {
			t.Errorf("sanitizeAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDirBadInputIsPermanent(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Send(context.Background(), "a@x.test", nil, testMessage); !IsPermanent(err) {
		t.Errorf("no recipients: err = %v, want permanent", err)
	}
	if err := d.Send(context.Background(), "a@x.test", []string{"b@x.test"}, nil); !IsPermanent(err) {
		t.Errorf("empty message: err = %v, want permanent", err)
	}
	entries, _ := os.ReadDir(d.Path())
	if len(entries) != 0 {
		t.Errorf("bad input left %d files", len(entries))
	}
}
