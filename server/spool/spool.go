// Package spool is the gateway's durable queue: deliveries the next hop did not
// take at once wait here, in fsync'd files, until they are relayed or given up.
// A delivery is in the spool only once Put has returned; a crash (kill -9, power
// loss) after that loses nothing, and one before it left the SMTP client without a
// 250, so it still holds the message.
package spool

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/waxseal/waxseal/internal/durable"
)

// Entry is one spooled delivery: a complete message and its SMTP envelope.
type Entry struct {
	ID   string   `json:"id"`
	From string   `json:"from"`
	To   []string `json:"to"`
	// RequireTLS: relay only over TLS; never fall back to plaintext.
	RequireTLS bool `json:"require_tls"`
	// Kind says what the message is ("original", "envelope", "notice"), so a
	// failure can be reported to the sender in the right words.
	Kind string `json:"kind"`
	// Notify is where a non-delivery notice goes when the entry is given up ("":
	// nowhere, e.g. for notices themselves).
	Notify string `json:"notify,omitempty"`
	// Subject is the subject the sender should see in a non-delivery notice
	// (without trigger).
	Subject string `json:"subject,omitempty"`
	// Envelope is the id of the envelope an "envelope" entry's wrapper mail
	// carries, whose delivery state the gateway reports to the key server.
	Envelope    string    `json:"envelope,omitempty"`
	Created     time.Time `json:"created"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	// PossiblyDelivered is set, before the entry is sent again, once an attempt
	// sent the whole message but got no reply to its end of data: the next hop
	// may have taken that copy, and the next attempt may deliver it twice.
	PossiblyDelivered bool `json:"possibly_delivered,omitempty"`
}

// Spool is a directory of entries: ID.eml holds the message, ID.json the entry.
// The .json is written last (and renamed into place), so its presence is what
// makes an entry exist.
type Spool struct {
	dir string
	mu  sync.Mutex // serialises writers of the same entry's metadata

	reportsOnce sync.Once
	reports     *reportLog // see reports.go
}

// Open makes the directory if needed and removes what an interrupted Put left.
func Open(dir string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	s := &Spool{dir: dir}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	for _, n := range names {
		name := n.Name()
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			os.Remove(filepath.Join(dir, name))
		case strings.HasSuffix(name, ".eml"):
			id := strings.TrimSuffix(name, ".eml")
			if _, err := os.Stat(s.meta(id)); errors.Is(err, os.ErrNotExist) {
				// A Put that never finished: its client got no 250.
				os.Remove(filepath.Join(dir, name))
			}
		}
	}
	return s, nil
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

func (s *Spool) meta(id string) string { return filepath.Join(s.dir, id+".json") }
func (s *Spool) body(id string) string { return filepath.Join(s.dir, id+".eml") }

// Put stores a new entry with its message and returns once both are on disk.
func (s *Spool) Put(e Entry, msg []byte) (Entry, error) {
	var b [16]byte
	rand.Read(b[:])
	// Time first, so a directory listing is in spool order.
	e.ID = time.Now().UTC().Format("20060102T150405.000000") + "-" + hex.EncodeToString(b[:])
	if e.Created.IsZero() {
		e.Created = time.Now()
	}
	if e.NextAttempt.IsZero() {
		e.NextAttempt = e.Created
	}
	if err := writeFileSync(s.dir, s.body(e.ID), msg); err != nil {
		return Entry{}, fmt.Errorf("spool put: %w", err)
	}
	if err := s.writeMeta(e); err != nil {
		os.Remove(s.body(e.ID))
		return Entry{}, fmt.Errorf("spool put: %w", err)
	}
	return e, nil
}

// Update records a failed attempt (attempts, next attempt, last error).
func (s *Spool) Update(e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Stat(s.meta(e.ID)); err != nil {
		return fmt.Errorf("spool update %s: %w", e.ID, err)
	}
	return s.writeMeta(e)
}

func (s *Spool) writeMeta(e Entry) error {
	j, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return writeFileSync(s.dir, s.meta(e.ID), j)
}

// Remove deletes a delivered or given-up entry: metadata first, so a crash in
// between leaves an orphan message that Open clears, never an entry without one.
func (s *Spool) Remove(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(s.meta(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool remove %s: %w", id, err)
	}
	// Unsynced, a removal a crash undoes sends the message again: a duplicate,
	// never a loss; so a failed sync does not fail Remove.
	_ = durable.SyncDir(s.dir)
	os.Remove(s.body(id))
	return nil
}

// Message reads an entry's message.
func (s *Spool) Message(id string) ([]byte, error) {
	b, err := os.ReadFile(s.body(id))
	if err != nil {
		return nil, fmt.Errorf("spool message %s: %w", id, err)
	}
	return b, nil
}

// List returns every entry, oldest first. Unreadable metadata is reported, not
// skipped in silence: it is a message the operator must look at.
func (s *Spool) List() ([]Entry, error) {
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Entry
	var errs []error
	for _, n := range names {
		b, err := os.ReadFile(n)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile
		}
		var e Entry
		if err == nil {
			err = json.Unmarshal(b, &e)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("spool entry %s: %w", filepath.Base(n), err))
			continue
		}
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}

// Due returns the entries whose next attempt is not after now.
func (s *Spool) Due(now time.Time) ([]Entry, error) {
	all, err := s.List()
	var due []Entry
	for _, e := range all {
		if !e.NextAttempt.After(now) {
			due = append(due, e)
		}
	}
	return due, err
}

// writeFileSync writes data under a temporary name, fsyncs it, renames it into
// place and fsyncs the directory, so the file is whole and durable on return.
func writeFileSync(dir, path string, data []byte) error {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	ok = true
	return durable.SyncDir(dir)
}
