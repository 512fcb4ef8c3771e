package mailer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/waxseal/waxseal/internal/durable"
)

// Dir is a Sender for development and tests: it writes each message to a file in a
// directory instead of sending it, so that mailed codes can be read from there.
// Files are named <UTC time>-<first recipient>.eml, the time to the nanosecond, so
// that sorting the names sorts the mail by when it was sent. The file holds the
// message exactly as given; the envelope is not recorded.
type Dir struct {
	path string
	now  func() time.Time

	mu   sync.Mutex
	last time.Time // last stamp handed out, so stamps are unique and increasing
}

var _ Sender = (*Dir)(nil)

// dirStamp is fixed width, so names sort as times do.
const dirStamp = "20060102T150405.000000000"

// NewDir makes the directory if needed (0700: the files hold sign-in codes).
func NewDir(path string) (*Dir, error) {
	if path == "" {
		return nil, fmt.Errorf("mail dir: no path")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("mail dir: %w", err)
	}
	return &Dir{path: path, now: time.Now}, nil
}

// Path is the directory mail is written to.
func (d *Dir) Path() string { return d.path }

// Send writes msg to a new file. The file appears whole or not at all (written
// under a temporary name, synced, then renamed), so a reader polling the
// directory never sees half a message, and a nil return means it is on disk.
func (d *Dir) Send(ctx context.Context, from string, to []string, msg []byte) error {
	if err := checkEnvelope(from, to, msg); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	name := d.stamp().Format(dirStamp) + "-" + sanitizeAddr(to[0]) + ".eml"

	// The temporary name does not end in .eml, so globbing *.eml skips it.
	tmp, err := os.CreateTemp(d.path, ".tmp-*")
	if err != nil {
		return fmt.Errorf("mail dir: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("mail dir: %w", err)
	}
	if _, err := tmp.Write(msg); err != nil {
		return fmt.Errorf("mail dir: write %s: %w", name, err)
	}
	// The Drainer deletes the mail from the outbox once Send returns, so the file
	// must survive a crash by then.
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("mail dir: sync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mail dir: close %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.path, name)); err != nil {
		return fmt.Errorf("mail dir: %w", err)
	}
	ok = true
	// Best effort where the platform cannot, as befits a development sink.
	_ = durable.SyncDir(d.path)
	return nil
}

// stamp returns the current UTC time, nudged forward if need be so that two
// messages never get the same name and names keep the order of the calls, even
// with a coarse clock.
func (d *Dir) stamp() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.now().UTC().Round(0)
	if !t.After(d.last) {
		t = d.last.Add(time.Nanosecond)
	}
	d.last = t
	return t
}

// sanitizeAddr makes an address safe as part of a file name on any system: no
// separators, no "..", nothing a shell would trip over.
func sanitizeAddr(addr string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(addr) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '@', r == '-', r == '+', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	s := strings.Trim(b.String(), ".")
	s = strings.ReplaceAll(s, "..", "__")
	if s == "" {
		return "unknown"
	}
	return s
}
