package spool

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Reports are small records the gateway owes someone else (the key server's
// delivery states): each is a file in the spool's reports/ directory, written
// durably like an entry, kept until the caller removes it once it is handed
// over. The spool does not read them.

func (s *Spool) reportsDir() string { return filepath.Join(s.dir, "reports") }

// PutReport stores data as a new report and returns once it is on disk.
func (s *Spool) PutReport(data []byte) error {
	dir := s.reportsDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("spool report: %w", err)
	}
	var b [8]byte
	rand.Read(b[:])
	// Time first, so that the names sort in the order the reports were made.
	name := time.Now().UTC().Format("20060102T150405.000000000") + "-" + hex.EncodeToString(b[:]) + ".json"
	if err := writeFileSync(dir, filepath.Join(dir, name), data); err != nil {
		return fmt.Errorf("spool report: %w", err)
	}
	return nil
}

// Reports lists the reports' names, oldest first.
func (s *Spool) Reports() ([]string, error) {
	des, err := os.ReadDir(s.reportsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool reports: %w", err)
	}
	var names []string
	for _, de := range des {
		if n := de.Name(); strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, ".tmp-") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Report reads one report.
func (s *Spool) Report(name string) ([]byte, error) {
	if filepath.Base(name) != name {
		return nil, fmt.Errorf("spool report %q: not a report name", name)
	}
	return os.ReadFile(filepath.Join(s.reportsDir(), name))
}

// RemoveReport deletes a report that was handed over; removing one already
// gone is not an error.
func (s *Spool) RemoveReport(name string) error {
	if filepath.Base(name) != name {
		return fmt.Errorf("spool report %q: not a report name", name)
	}
	if err := os.Remove(filepath.Join(s.reportsDir(), name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool report: %w", err)
	}
	return nil
}
